"""smil-keras: Sharp Multiple Instance Learning for partially attacked DeepFake video detection.

The most used names are available here; everything else lives in the subpackages, named
after the pipeline's stages (see ARCHITECTURE.md):

>>> import smil_keras
>>> detector = smil_keras.build_detector("s-mil-t", backbone="tiny", image_size=64)

Names are imported lazily, so ``import smil_keras.layers`` under the JAX or PyTorch backend
does not pull in TensorFlow's data stack.
"""

import importlib

from smil_keras.version import __version__

_PUBLIC = {
    "smil_keras.layers": [
        "SMILPooling",
        "SpatialTemporalEncoder",
        "NoisyOrMILPooling",
        "AttentionMILPooling",
        "ScorePooling",
    ],
    "smil_keras.models": ["build_detector", "build_backbone", "explain_model", "frame_model"],
    "smil_keras.video": ["sample_frames", "VideoReadError"],
    "smil_keras.faces": ["MTCNNDetector", "extract_video_faces", "NoFacesError"],
    "smil_keras.bags": ["extract_to_shards", "read_bags", "BagRecord", "BagShardWriter"],
    "smil_keras.data": ["make_bag_dataset"],
    "smil_keras.datasets": [
        "read_ffpp",
        "read_dfdc",
        "read_celebdf",
        "build_ffpms",
        "make_partial_attack_dataset",
    ],
    "smil_keras.training": ["TrainConfig", "train"],
    "smil_keras.evaluation": ["evaluate", "load_detector", "VideoPredictor"],
    "smil_keras.export": ["export_saved_model"],
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["__version__", *_WHERE]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'smil_keras' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
