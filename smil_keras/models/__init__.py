"""Backbones and video-level detectors (S-MIL, S-MIL-T and the paper's baselines)."""

from smil_keras.models.application_preprocessing import ApplicationPreprocessing
from smil_keras.models.backbone import backbone_names, backbone_preprocessing, build_backbone
from smil_keras.models.detector_heads import HEADS
from smil_keras.models.explain_model import explain_model
from smil_keras.models.face_encoder import FaceEncoder
from smil_keras.models.frame_model import frame_model
from smil_keras.models.smil_detector import VARIANTS, SMILDetector, build_detector
from smil_keras.models.tiny_backbone import TinyBackbone

__all__ = [
    "HEADS",
    "VARIANTS",
    "ApplicationPreprocessing",
    "FaceEncoder",
    "SMILDetector",
    "TinyBackbone",
    "backbone_names",
    "backbone_preprocessing",
    "build_backbone",
    "build_detector",
    "explain_model",
    "frame_model",
]
