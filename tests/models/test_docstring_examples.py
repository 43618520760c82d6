"""The `Example` sections of the models' docstrings run as written (those that would download
ImageNet weights are marked to skip)."""

import doctest
import importlib

import pytest

MODULES = [
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
