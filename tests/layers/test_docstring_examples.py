"""The `Example` sections of the layers' docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = [
    "smil_keras.layers.attention_mil_pooling",
    "smil_keras.layers.mil_pooling",
    "smil_keras.layers.noisy_or_mil_pooling",
    "smil_keras.layers.score_pooling",
    "smil_keras.layers.smil_pooling",
    "smil_keras.layers.spatial_temporal_encoder",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_example_runs(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
