"""Face detection, square crops and tracks (second stage of the pipeline)."""

from smil_keras.errors import NoFacesError
from smil_keras.faces.cropping import STORED_CONTEXT, crop_face, square_region, stored_crop
from smil_keras.faces.extraction import extract_faces, extract_video_faces
from smil_keras.faces.face import Face
from smil_keras.faces.face_detector import FaceDetector
from smil_keras.faces.face_view import FaceView
from smil_keras.faces.mtcnn_detector import MTCNNDetector
from smil_keras.faces.tracking import box_iou, link_tracks
from smil_keras.faces.video_faces import VideoFaces

__all__ = [
    "STORED_CONTEXT",
    "Face",
    "FaceDetector",
    "FaceView",
    "MTCNNDetector",
    "NoFacesError",
    "VideoFaces",
    "box_iou",
    "crop_face",
    "extract_faces",
    "extract_video_faces",
    "link_tracks",
    "square_region",
    "stored_crop",
]
