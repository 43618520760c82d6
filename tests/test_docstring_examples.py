"""The `Example` sections of the docstrings run as written: layers, models, faces and the error
classes (model examples that would download ImageNet weights are marked to skip)."""

import doctest
import importlib

import pytest

MODULES = [
    "smil_keras.errors",
    "smil_keras.faces.cropping",
    "smil_keras.faces.face_detector",
    "smil_keras.faces.face_view",
    "smil_keras.layers._person_ids",
    "smil_keras.layers.attention_mil_pooling",
    "smil_keras.layers.mil_pooling",
    "smil_keras.layers.noisy_or_mil_pooling",
    "smil_keras.layers.person_scores",
    "smil_keras.layers.person_sub_bags",
    "smil_keras.layers.score_pooling",
    "smil_keras.layers.smil_pooling",
    "smil_keras.layers.spatial_temporal_encoder",
    "smil_keras.models.application_preprocessing",
    "smil_keras.models.backbone",
    "smil_keras.models.detector_heads",
    "smil_keras.models.explain_model",
    "smil_keras.models.face_encoder",
    "smil_keras.models.frame_model",
    "smil_keras.models.smil_detector",
    "smil_keras.models.tiny_backbone",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_example_runs(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
