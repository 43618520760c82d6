"""The `Example` sections of the faces modules' (and the error classes') docstrings run as
written."""

import doctest
import importlib

import pytest

MODULES = [
    "smil_keras.errors",
    "smil_keras.faces.cropping",
    "smil_keras.faces.face_detector",
    "smil_keras.faces.face_view",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_example_runs(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
