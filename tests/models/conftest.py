"""Tiny detectors shared by the model tests (fixtures, so that test modules stay importable
under ``--import-mode=importlib``)."""

import numpy as np
import pytest

from smil_keras.models import build_detector

IMAGE_SIZE = 32


@pytest.fixture(scope="session")
def tiny_kwargs():
    """`build_detector` arguments for a fast detector: tiny backbone, 32 px, small heads."""
    return {
        "backbone": "tiny",
        "image_size": IMAGE_SIZE,
        "filters": 16,
        "attention_units": 8,
        "lstm_units": 8,
    }


@pytest.fixture(scope="session")
def detector(tiny_kwargs):
    """``detector(variant)``: a tiny detector of that variant, built once per session."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = build_detector(variant, **tiny_kwargs)
        return cache[variant]

    return get


@pytest.fixture(scope="session")
def random_faces():
    """``random_faces(batch, num_faces, seed=0)``: crops ``(batch, num_faces, 32, 32, 3)``,
    pixels in [0, 255]."""

    def make(batch, num_faces, seed=0):
        rng = np.random.default_rng(seed)
        return rng.uniform(0, 255, (batch, num_faces, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")

    return make
