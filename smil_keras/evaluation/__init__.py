"""Evaluation as the paper reports it, and end-to-end prediction with explanations."""

from smil_keras.evaluation.evaluate import evaluate
from smil_keras.evaluation.exported_detector import ExportedDetector, load_scoring_model
from smil_keras.evaluation.grad_cam import grad_cam
from smil_keras.evaluation.load_detector import load_detector
from smil_keras.evaluation.metrics import (
    balanced_accuracy,
    frame_auc,
    person_labels,
    person_metrics,
    roc_auc,
    video_metrics,
)
from smil_keras.evaluation.plots import plot_curves
from smil_keras.evaluation.score_bags import score_bags
from smil_keras.evaluation.score_videos import score_videos
from smil_keras.evaluation.tables import (
    fake_fraction_table,
    markdown_table,
    method_table,
    person_table,
    write_table,
)
from smil_keras.evaluation.video_predictor import VideoPredictor
from smil_keras.evaluation.video_scores import VideoScores
from smil_keras.evaluation.visualize import draw_faces, overlay_heatmap

__all__ = [
    "ExportedDetector",
    "VideoPredictor",
    "VideoScores",
    "balanced_accuracy",
    "draw_faces",
    "evaluate",
    "fake_fraction_table",
    "frame_auc",
    "grad_cam",
    "load_detector",
    "load_scoring_model",
    "markdown_table",
    "method_table",
    "overlay_heatmap",
    "person_labels",
    "person_metrics",
    "person_table",
    "plot_curves",
    "roc_auc",
    "score_bags",
    "score_videos",
    "video_metrics",
    "write_table",
]
