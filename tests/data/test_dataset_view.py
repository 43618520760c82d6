"""`make_bag_dataset(..., view=model.view)`: the faces are cut the way the detector sees them.

The stored crops here are a left-right grey ramp of 32 px stored with margin 2.6, twice the side
of a margin-1.3 view: the span of grey levels a face holds tells which window was cut (about
125 levels for the half-side window of margin 1.3, about 250 for the whole crop).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from smil_keras.bags import BagRecord, BagShardWriter, read_bags  # noqa: E402
from smil_keras.data import make_bag_dataset  # noqa: E402
from smil_keras.errors import ViewMismatchError  # noqa: E402
from smil_keras.faces import FaceView  # noqa: E402

FACES = 3


@pytest.fixture(scope="module")
def ramp_shard(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ramp")
    ramp = np.repeat(np.linspace(0, 250, 32).astype(np.uint8)[None, :, None], 32, 0)
    with BagShardWriter(folder) as writer:
        writer.write(BagRecord("r", "r.mp4", [np.repeat(ramp, 3, 2)] * FACES, label=1, margin=2.6))
    return folder


def grey_span(face):
    profile = face[face.shape[0] // 2, :, 0].astype(int)
    return abs(profile[-1] - profile[0])


def test_the_view_gives_image_size_margin_and_the_training_instances(ramp_shard):
    view = FaceView(image_size=16, margin=1.3, instances=2, preprocessing="tiny")
    inputs, _ = next(
        iter(make_bag_dataset(ramp_shard, training=True, batch_size=1, view=view, seed=0))
    )
    assert inputs["faces"].shape == (1, 2, 16, 16, 3)  # the view's instances and size
    assert 90 < grey_span(inputs["faces"].numpy()[0, 0]) < 140  # margin 1.3: half the crop
    # Evaluation: every face (the view's instances are a training setting), the centre window.
    inputs, _ = next(iter(make_bag_dataset(ramp_shard, training=False, batch_size=1, view=view)))
    faces = inputs["faces"].numpy()[0]
    assert faces.shape == (FACES, 16, 16, 3)
    decoded = next(read_bags(ramp_shard)).decoded_crops()[0].astype(int)
    np.testing.assert_allclose(faces[0], decoded[8:24, 8:24], atol=2)
    # Evaluation may still ask for fewer faces.
    inputs, _ = next(
        iter(make_bag_dataset(ramp_shard, training=False, batch_size=1, view=view, instances=1))
    )
    assert inputs["faces"].shape == (1, 1, 16, 16, 3)
    # Another view of the same crops: the whole crop (margin 2.6) at 8 px.
    wide = FaceView(image_size=8, margin=2.6, instances=1, preprocessing="tiny")
    inputs, _ = next(iter(make_bag_dataset(ramp_shard, training=False, batch_size=1, view=wide)))
    assert inputs["faces"].shape == (1, FACES, 8, 8, 3)
    assert grey_span(inputs["faces"].numpy()[0, 0]) > 200


@pytest.mark.parametrize("field, value", [("image_size", 32), ("margin", 1.5), ("instances", 3)])
def test_an_argument_that_contradicts_the_view_names_both_values(ramp_shard, field, value):
    view = FaceView(image_size=16, margin=1.3, instances=2, preprocessing="tiny")
    with pytest.raises(
        ViewMismatchError, match=f"{field}={getattr(view, field)!r}.*{field}={value!r}"
    ):
        make_bag_dataset(ramp_shard, training=True, batch_size=1, view=view, **{field: value})
    # Values that agree with the view are accepted.
    dataset = make_bag_dataset(
        ramp_shard, training=True, batch_size=1, view=view, **{field: getattr(view, field)}
    )
    assert dataset.element_spec[0]["faces"].shape.as_list() == [None, 2, 16, 16, 3]


def test_without_a_view_the_defaults_are_a_default_face_views(ramp_shard):
    default = FaceView()
    train = make_bag_dataset(ramp_shard, training=True, batch_size=1)
    size = default.image_size
    assert train.element_spec[0]["faces"].shape.as_list() == [
        None,
        default.instances,
        size,
        size,
        3,
    ]
    test = make_bag_dataset(ramp_shard, training=False, batch_size=1)
    assert test.element_spec[0]["faces"].shape.as_list() == [None, None, size, size, 3]
    # The default margin: the same faces as asking for it.
    faces = [
        next(
            iter(
                make_bag_dataset(ramp_shard, training=False, batch_size=1, image_size=16, **margin)
            )
        )[0]["faces"].numpy()
        for margin in ({}, {"margin": default.margin})
    ]
    np.testing.assert_array_equal(*faces)


def test_a_view_that_is_not_a_face_view_is_refused(ramp_shard):
    with pytest.raises(TypeError, match="FaceView"):
        make_bag_dataset(ramp_shard, training=True, batch_size=1, view={"image_size": 16})
