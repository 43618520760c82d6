"""`make_bag_dataset`: shapes, masks, subsets, labels, balance, determinism, Keras, tf.distribute.

Every face crop is a flat colour that encodes its bag and its position in the bag
(`write_flat_bags`, tests/data/conftest.py), so the faces a batch holds can be identified after
JPEG coding, cropping, resizing and flipping.
"""

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from smil_keras.bags import BagRecord, BagShardWriter, read_bags  # noqa: E402
from smil_keras.data import make_bag_dataset  # noqa: E402

SIZE = 24
# (number of faces, label) of the bags; bag b's face j has face label (b + j) % 2.
BAGS = [(3, 0), (5, 1), (12, 1), (1, 0), (8, 0), (20, 1), (2, 1)]


def bag_fields(bags):
    """The `write_flat_bags` bags of `(number of faces, label)` pairs: bag b's faces at frames
    0, 7, 14, ..., its face j labelled (b + j) % 2."""
    return [
        dict(
            faces=n, label=label, frame_indices=np.arange(n) * 7, face_labels=(b + np.arange(n)) % 2
        )
        for b, (n, label) in enumerate(bags)
    ]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, write_flat_bags):
    return write_flat_bags(tmp_path_factory.mktemp("bags"), bag_fields(BAGS), SIZE, 3)


def test_training_batches_have_fixed_shapes_random_ordered_subsets_and_padding(
    shards, flat_positions
):
    k = 4
    dataset = make_bag_dataset(
        shards, training=True, batch_size=3, instances=k, image_size=SIZE, face_labels=True, seed=0
    )
    spec = dataset.element_spec
    assert spec[0]["faces"].shape.as_list() == [None, k, SIZE, SIZE, 3]
    assert spec[0]["mask"].shape.as_list() == [None, k]
    seen_bags, subsets = [], {}
    for _epoch in range(3):
        for inputs, label in dataset:
            faces, mask = inputs["faces"].numpy(), inputs["mask"].numpy()
            face_labels = inputs["face_labels"].numpy()
            assert inputs["faces"].dtype == tf.uint8 and inputs["mask"].dtype == tf.bool
            assert inputs["face_labels"].dtype == tf.int32 and label.dtype == tf.float32
            assert label.shape == (faces.shape[0], 1)
            assert faces.min() >= 0 and faces.max() <= 255
            for row in range(faces.shape[0]):
                positions = flat_positions(faces[row])[mask[row]]
                (b,) = set(flat_positions(faces[row], channel=1)[mask[row]])
                n = BAGS[b][0]
                assert label[row, 0] == BAGS[b][1]
                seen_bags.append(b)
                assert mask[row].sum() == min(n, k)
                assert mask[row][: min(n, k)].all()  # real faces first, then padding
                assert np.all(np.diff(positions) > 0) and positions.max() < n  # frame order
                np.testing.assert_array_equal(face_labels[row][mask[row]], (b + positions) % 2)
                assert (face_labels[row][~mask[row]] == -1).all()
                assert (faces[row][~mask[row]] == 0).all()
                subsets.setdefault(b, set()).add(tuple(positions))
    assert sorted(seen_bags) == sorted(list(range(len(BAGS))) * 3)  # no bag dropped
    assert len(subsets[2]) > 1 and len(subsets[5]) > 1  # new subsets from epoch to epoch


def test_eval_batches_keep_every_face_in_order_padded_per_batch(shards, flat_positions):
    dataset = make_bag_dataset(
        shards, training=False, batch_size=3, image_size=SIZE, face_labels=True
    )
    rows = []
    for inputs, label in dataset:
        faces, mask = inputs["faces"].numpy(), inputs["mask"].numpy()
        assert faces.shape[1] == max(mask.sum(axis=1))  # M = the batch's largest bag
        for row in range(faces.shape[0]):
            rows.append(
                (
                    label[row, 0],
                    flat_positions(faces[row])[mask[row]],
                    inputs["face_labels"].numpy()[row],
                )
            )
    # The order of read_bags, every face, exact labels.
    records = list(read_bags(shards))
    assert len(rows) == len(records) == len(BAGS)
    for (label, positions, face_labels), record in zip(rows, records, strict=True):
        assert label == record.label
        np.testing.assert_array_equal(positions, np.arange(len(record)))
        np.testing.assert_array_equal(face_labels[: len(record)], record.face_labels)
        assert (face_labels[len(record) :] == -1).all()
    # Deterministic: a second pass gives the same batches.
    again = [x["faces"].numpy() for x, _ in dataset]
    first = [x["faces"].numpy() for x, _ in dataset]
    assert all(np.array_equal(a, b) for a, b in zip(again, first, strict=True))


def test_eval_with_instances_spreads_them_evenly(shards, flat_positions):
    dataset = make_bag_dataset(shards, training=False, batch_size=10, instances=4, image_size=SIZE)
    inputs, _ = next(iter(dataset))
    faces, mask = inputs["faces"].numpy(), inputs["mask"].numpy()
    assert faces.shape[1] == 4 and (faces[~mask] == 0).all()  # short bags padded with zeros
    positions = [flat_positions(f)[m] for f, m in zip(faces, mask, strict=True)]
    for (n, _), got in zip(BAGS, positions, strict=True):
        expected = np.arange(n) if n <= 4 else np.round(np.linspace(0, n - 1, 4)).astype(int)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("image_size", [16, 12])
def test_training_cuts_the_view_at_random_places_and_flips(tmp_path, image_size):
    # Crops of margin 2.6 hold twice the side of the 1.3 view: a 16 px window of the 32 px
    # crop, resized when the model takes 12 px. A left-right ramp shows flips and the window.
    ramp = np.repeat(np.linspace(0, 250, 32).astype(np.uint8)[None, :, None], 32, 0)
    ramp = np.repeat(ramp, 3, 2)
    with BagShardWriter(tmp_path) as writer:
        writer.write(BagRecord("r", "r.mp4", [ramp] * 2, label=1, margin=2.6))
    dataset = make_bag_dataset(
        tmp_path, training=True, batch_size=1, instances=2, image_size=image_size, seed=3
    )
    slopes, starts = [], set()
    for _ in range(12):
        faces = next(iter(dataset))[0]["faces"].numpy()[0].astype(int)
        assert faces.shape == (2, image_size, image_size, 3)
        np.testing.assert_array_equal(faces[0], faces[1])  # one window and flip per bag
        profile = faces[0, image_size // 2, :, 0]
        slopes.append(np.sign(profile[-1] - profile[0]))
        # the window spans half the ramp: about 125 grey levels instead of 250
        assert 90 < abs(profile[-1] - profile[0]) < 140
        starts.add(int(min(profile[0], profile[-1])) // 8)
    assert set(slopes) == {-1.0, 1.0}  # both flipped and not flipped bags
    assert len(starts) > 3  # the window moves
    # Evaluation: the centre window, never flipped.
    faces = next(
        iter(make_bag_dataset(tmp_path, training=False, batch_size=1, image_size=image_size))
    )[0]["faces"].numpy()[0, 0]
    centre = ramp[8:24, 8:24].astype(float)
    if image_size == 16:
        np.testing.assert_allclose(faces, centre, atol=3)  # JPEG only


def test_eval_view_is_the_crop_predict_cuts_and_training_views_shift_it(tmp_path):
    """Stored crops with context (as `smil extract` writes them): evaluation gives the face
    crop of margin 1.3 that `crop_face` cuts from the frame (what `smil predict` scores), and
    training gives the same view shifted, at the same scale."""
    import skimage.data

    from smil_keras.faces import crop_face, stored_crop

    photo = skimage.data.astronaut()
    box, size = (170, 60, 110, 150), 48
    stored_size, stored_margin = stored_crop(size, 1.3)
    # about 1.11 times the view, an even border (the view sits exactly in the centre)
    assert (stored_size, stored_margin) == (54, 1.3 * 54 / 48)
    stored = crop_face(photo, box, margin=stored_margin, size=stored_size)
    with BagShardWriter(tmp_path) as writer:
        writer.write(BagRecord("a", "a.mp4", [stored], label=1, margin=stored_margin))
    view = crop_face(photo, box, margin=1.3, size=size).astype(float)
    border = (stored_size - size) // 2
    centre = stored[border : border + size, border : border + size].astype(float)
    assert np.abs(centre - view).mean() < 1  # the same pixels up to resampling
    faces = next(iter(make_bag_dataset(tmp_path, training=False, batch_size=1, image_size=size)))[
        0
    ]["faces"].numpy()[0, 0]
    decoded = next(read_bags(tmp_path)).decoded_crops()[0].astype(float)  # JPEG coded
    np.testing.assert_allclose(
        faces, decoded[border : border + size, border : border + size], atol=2
    )  # OpenCV's and TensorFlow's JPEG decoders
    train = make_bag_dataset(
        tmp_path, training=True, batch_size=1, image_size=size, seed=1, flip=False
    )
    for inputs, _ in train.take(5):
        face = inputs["faces"].numpy()[0, 0]
        errors = [
            np.abs(face - decoded[y : y + size, x : x + size]).mean()
            for y in range(stored_size - size + 1)
            for x in range(stored_size - size + 1)
        ]
        assert min(errors) < 1.5  # a window of the stored crop, not resized
    # Without the random crop, training sees the evaluation view.
    centred = make_bag_dataset(
        tmp_path,
        training=True,
        batch_size=1,
        image_size=size,
        seed=1,
        flip=False,
        random_crop=False,
    )
    for inputs, _ in centred.take(2):
        np.testing.assert_array_equal(inputs["faces"].numpy()[0, 0], faces)


def test_a_view_wider_than_the_stored_crops_fails_naming_the_video(tmp_path):
    with BagShardWriter(tmp_path) as writer:
        writer.write(BagRecord("a", "clip_a.mp4", [np.zeros((16, 16, 3), np.uint8)], label=1))
    dataset = make_bag_dataset(tmp_path, training=False, batch_size=1, image_size=16, margin=1.6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="clip_a.mp4"):
        next(iter(dataset))


def test_same_seed_same_batches_and_epochs_differ(shards, flat_positions):
    def epoch_faces(dataset):
        return np.concatenate([flat_positions(x["faces"].numpy()).ravel() for x, _ in dataset])

    a = make_bag_dataset(shards, training=True, batch_size=2, instances=3, image_size=SIZE, seed=7)
    b = make_bag_dataset(shards, training=True, batch_size=2, instances=3, image_size=SIZE, seed=7)
    first, second = epoch_faces(a), epoch_faces(a)
    np.testing.assert_array_equal(first, epoch_faces(b))
    assert not np.array_equal(first, second)


def test_balance_draws_both_classes_equally(tmp_path, write_flat_bags):
    folder = write_flat_bags(tmp_path, bag_fields([(2, 0)] * 27 + [(2, 1)] * 3), 8, 10)
    dataset = make_bag_dataset(
        folder, training=True, batch_size=50, instances=2, image_size=8, balance=True, seed=0
    )
    assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY  # give fit steps_per_epoch
    labels = np.concatenate([y.numpy().ravel() for _, y in dataset.take(8)])
    assert labels.size == 400
    # Binomial(400, 0.5): mean 0.5, standard deviation 0.025; unbalanced it would be 0.1.
    assert abs(labels.mean() - 0.5) < 0.1


def test_balanced_batches_are_reproducible_with_a_seed(tmp_path, write_flat_bags, flat_positions):
    # Each class has a pipeline of its own: two readers of one shuffled pipeline would race
    # for its shuffle seeds, and the batches would change from run to run.
    folder = write_flat_bags(tmp_path, bag_fields([(3, 0)] * 7 + [(3, 1)] * 5), 8, 4)
    for cache in (False, True):
        runs = [
            [
                flat_positions(x["faces"].numpy(), channel=1)
                for x, _ in make_bag_dataset(
                    folder,
                    training=True,
                    batch_size=4,
                    instances=3,
                    image_size=8,
                    balance=True,
                    seed=4,
                    cache=cache,
                ).take(6)
            ]
            for _ in range(3)
        ]
        for run in runs[1:]:
            np.testing.assert_array_equal(run, runs[0])


@pytest.mark.parametrize("label, missing", [(0, "fake"), (1, "real")])
def test_balance_with_one_class_is_refused_naming_the_shards(
    tmp_path, write_flat_bags, label, missing
):
    # It gave that class alone (or, reportedly, hung): never the balance asked for.
    folder = write_flat_bags(tmp_path, bag_fields([(2, label)] * 5 + [(1, -1)]), 8, 2)
    with pytest.raises(ValueError, match=f"bags-00000.tfrecord.*hold no {missing} bag") as error:
        make_bag_dataset(folder, training=True, batch_size=2, instances=2, balance=True)
    held = "0 real, 5 fake" if label else "5 real, 0 fake"
    assert f"({held}, 1 unlabelled (-1))" in str(error.value)
    assert "bags-00002.tfrecord" in str(error.value)  # every shard named


def test_unknown_label_fails_training_naming_the_video(tmp_path):
    with BagShardWriter(tmp_path) as writer:
        writer.write(BagRecord("u", "unlabelled.mp4", [np.zeros((8, 8, 3), np.uint8)]))
    dataset = make_bag_dataset(tmp_path, training=True, batch_size=1, image_size=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unlabelled.mp4"):
        next(iter(dataset))
    # Evaluation accepts it: its label is -1.
    _, label = next(iter(make_bag_dataset(tmp_path, training=False, batch_size=1, image_size=8)))
    assert label.numpy().item() == -1


def test_bad_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no bag shards"):
        make_bag_dataset(tmp_path, training=True, batch_size=2)
    (tmp_path / "junk.tfrecord").write_bytes(b"not a tfrecord at all")
    with pytest.raises(ValueError, match="junk.tfrecord"):
        make_bag_dataset(tmp_path, training=True, batch_size=2)


def test_keras_fit_predict_and_tf_distribute_accept_the_dataset(shards):
    faces = keras.Input((None, SIZE, SIZE, 3), name="faces")
    mask = keras.Input((None,), dtype="bool", name="mask")
    pooled = keras.ops.mean(faces, axis=(2, 3)) / 255.0
    scores = keras.layers.Dense(1)(pooled)[..., 0]
    masked = keras.ops.where(mask, scores, -1e9)
    output = keras.layers.Activation("sigmoid")(keras.ops.max(masked, axis=1, keepdims=True))
    model = keras.Model({"faces": faces, "mask": mask}, output)
    model.compile("adam", "binary_crossentropy")
    train = make_bag_dataset(
        shards, training=True, batch_size=2, instances=4, image_size=SIZE, seed=0
    )
    test = make_bag_dataset(shards, training=False, batch_size=2, image_size=SIZE)
    # Known lengths (7 bags in batches of 2): Keras knows the steps, no "ran out of data".
    assert len(train) == len(test) == 4
    assert len(make_bag_dataset(shards, training=True, batch_size=2, drop_remainder=True)) == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(train, epochs=1, verbose=0)
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(test, verbose=0).shape == (len(BAGS), 1)

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    distributed = strategy.experimental_distribute_dataset(train)
    inputs, label = next(iter(distributed))
    assert inputs["faces"].shape[1:] == (4, SIZE, SIZE, 3) and label.shape[1:] == (1,)


def test_uint8_faces_hold_the_float32_values(shards):
    options = dict(training=False, batch_size=4, image_size=SIZE)
    (floats, _), (bytes_, _) = (
        next(iter(make_bag_dataset(shards, **options, dtype=dtype)))
        for dtype in ("float32", "uint8")
    )
    assert bytes_["faces"].dtype == tf.uint8
    np.testing.assert_array_equal(bytes_["faces"].numpy().astype(np.float32), floats["faces"])


def test_windows_decoded_from_mcu_boundaries_are_tensorflows_crops(tmp_path):
    """The pipeline decodes a window from the MCU boundary left of it and slices it (cheaper
    than TensorFlow's own unaligned crop); the pixels must be those of
    `tf.io.decode_and_crop_jpeg` at the window itself, at every offset, mirrored or not."""
    import cv2
    import skimage.data

    from smil_keras.data.make_bag_dataset import _decode

    photo = skimage.data.astronaut()[40:120, 150:230]  # 80 px of texture: every column differs
    jpeg = tf.constant(cv2.imencode(".jpg", photo[..., ::-1])[1].tobytes())
    side = 40
    for y, x in [(0, 0), (3, 1), (7, 15), (0, 16), (11, 17), (40, 33), (5, 40)]:
        reference = tf.io.decode_and_crop_jpeg(
            jpeg, [y, x, side, side], channels=3, dct_method="INTEGER_ACCURATE"
        ).numpy()
        for flipped in (False, True):
            faces = [
                face.numpy()
                for face in _decode(
                    tf.stack([jpeg, jpeg]),
                    tf.constant([y, x]),
                    tf.constant(side),
                    side,
                    tf.constant(flipped),
                )
            ]
            expected = reference[:, ::-1] if flipped else reference
            np.testing.assert_array_equal(faces[0], expected, err_msg=f"window at {(y, x)}")
            np.testing.assert_array_equal(faces[1], expected)
