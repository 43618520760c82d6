"""Bags of flat-colour faces shared by the data tests (fixtures, so that the test modules stay
importable under ``--import-mode=importlib``).

Face `j` of bag `b` is the flat colour ``(LEVEL0 + STEP * j, LEVEL0 + STEP * (b % 20), 128)``:
JPEG coding, cropping, resizing and flipping all keep a flat image flat, so every face of a
batch can be traced back to its bag and its position in the record.
"""

import numpy as np
import pytest

LEVEL0, STEP = 20, 10


def _write_flat_bags(folder, bags, size, videos_per_shard):
    from smil_keras.bags import BagRecord, BagShardWriter  # TensorFlow: only where used

    with BagShardWriter(folder, videos_per_shard=videos_per_shard) as writer:
        for b, bag in enumerate(bags):
            fields = dict(bag)
            crops = [
                np.full(
                    (size, size, 3), (LEVEL0 + STEP * j, LEVEL0 + STEP * (b % 20), 128), np.uint8
                )
                for j in range(fields.pop("faces"))
            ]
            writer.write(BagRecord(f"bag{b}", f"bag{b}.mp4", crops, **fields))
    return folder


def _flat_positions(faces, channel=0):
    return np.round((faces[..., channel].mean(axis=(-2, -1)) - LEVEL0) / STEP).astype(int)


@pytest.fixture(scope="session")
def write_flat_bags():
    """The function ``write_flat_bags(folder, bags, size, videos_per_shard)``: one record
    ``bag{b}`` (video ``bag{b}.mp4``) of flat `size` x `size` faces per bag; each bag is a dict
    of its `BagRecord` keyword arguments (`label`, `frame_indices`, ...) with `faces`, their
    number, instead of the crops. Returns `folder`."""
    return _write_flat_bags


@pytest.fixture(scope="session")
def flat_positions():
    """The function ``flat_positions(faces, channel=0)``: the record position `j` (channel 0) or
    the bag `b` (channel 1) of each flat face of `faces` ``(..., S, S, 3)``."""
    return _flat_positions
