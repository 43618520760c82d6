"""DeepFake datasets: FF++, DFDC and Celeb-DF readers, the FFPMS builder, synthetic partial
attacks."""

from smil_keras.datasets.celebdf import read_celebdf
from smil_keras.datasets.dfdc import read_dfdc
from smil_keras.datasets.ffpms import (
    build_ffpms,
    choose_replaced_frames,
    ffpms_statistics,
    format_statistics,
    mix_fake_with_original,
)
from smil_keras.datasets.ffpp import find_ffpp_split_files, read_ffpp, read_ffpp_split
from smil_keras.datasets.partial_attack import (
    attack_frames,
    choose_fake_faces,
    make_partial_attack_dataset,
)
from smil_keras.datasets.partial_attack_dataset import PartialAttackDataset
from smil_keras.datasets.photo_clip import ASTRONAUT_FACE_BOX, animate_photo
from smil_keras.datasets.self_blending import self_blend
from smil_keras.datasets.video_entry import VideoEntry
from smil_keras.errors import DatasetFormatError

__all__ = [
    "ASTRONAUT_FACE_BOX",
    "DatasetFormatError",
    "PartialAttackDataset",
    "VideoEntry",
    "animate_photo",
    "attack_frames",
    "build_ffpms",
    "choose_fake_faces",
    "choose_replaced_frames",
    "ffpms_statistics",
    "find_ffpp_split_files",
    "format_statistics",
    "make_partial_attack_dataset",
    "mix_fake_with_original",
    "read_celebdf",
    "read_dfdc",
    "read_ffpp",
    "read_ffpp_split",
    "self_blend",
]
