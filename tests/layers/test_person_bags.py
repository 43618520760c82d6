"""PersonSubBags and PersonScores: a pooling of every person's sub-bag equals the pooling of a
bag of that person's instances alone."""

import json

import keras
import numpy as np
import pytest
from keras import ops

from smil_keras.layers import SMILPooling
from smil_keras.layers._person_ids import person_masks
from smil_keras.layers.person_scores import PersonScores
from smil_keras.layers.person_sub_bags import PersonSubBags

RNG = np.random.default_rng(11)
PERSON_IDS = np.array([[0, 0, 1, 1, 1, -1], [1, 0, 1, 0, 3, 3]], "int32")  # bag 1: no person 2
MASK = PERSON_IDS >= 0


def test_person_masks_are_the_one_hot_persons_of_the_real_instances():
    masks = ops.convert_to_numpy(person_masks(PERSON_IDS, MASK))
    assert masks.shape == (2, 6, 6) and masks.dtype == bool
    for b in range(2):
        for p in range(6):
            np.testing.assert_array_equal(masks[b, p], (PERSON_IDS[b] == p) & MASK[b])
    # a real instance with id -1 belongs to nobody; without a mask only the ids count
    np.testing.assert_array_equal(ops.convert_to_numpy(person_masks(PERSON_IDS)), masks)


def test_sub_bags_repeat_each_bag_once_per_person_slot():
    bags = RNG.normal(size=(2, 3, 6, 4)).astype("float32")  # e.g. (batch, K, M, r) encodings
    sub_bags, sub_masks = PersonSubBags()(bags, PERSON_IDS, mask=MASK)
    sub_bags, sub_masks = ops.convert_to_numpy(sub_bags), ops.convert_to_numpy(sub_masks)
    assert sub_bags.shape == (12, 3, 6, 4) and sub_masks.shape == (12, 6)
    for b in range(2):
        for p in range(6):
            np.testing.assert_array_equal(sub_bags[b * 6 + p], bags[b])
            np.testing.assert_array_equal(sub_masks[b * 6 + p], (PERSON_IDS[b] == p) & MASK[b])


def test_a_pooling_of_the_sub_bags_is_the_pooling_of_each_person_alone():
    h = RNG.normal(size=(2, 6, 5)).astype("float32")
    pooling = SMILPooling()
    sub_bags, sub_masks = PersonSubBags()(h, PERSON_IDS, mask=MASK)
    out = PersonScores()(pooling(sub_bags, mask=sub_masks), PERSON_IDS, mask=MASK)
    probability = ops.convert_to_numpy(out["person_probability"])
    present = ops.convert_to_numpy(out["person_mask"])
    np.testing.assert_array_equal(present[0], [True, True, False, False, False, False])
    np.testing.assert_array_equal(present[1], [True, True, False, True, False, False])
    for b in range(2):
        for p in range(6):
            alone = h[b : b + 1, (PERSON_IDS[b] == p) & MASK[b]]
            if present[b, p]:
                expected = ops.convert_to_numpy(pooling(alone))[0, 0]
                np.testing.assert_allclose(probability[b, p], expected, rtol=1e-5)
            else:
                assert probability[b, p] == 0.0  # nobody: 0, never NaN


def test_symbolic_shapes_and_config_round_trip():
    bags = keras.Input((None, 8))
    person_ids = keras.Input((None,), dtype="int32")
    mask = keras.Input((None,), dtype="bool")
    sub_bags, sub_masks = PersonSubBags()(bags, person_ids, mask=mask)
    assert tuple(sub_bags.shape) == (None, None, 8) and tuple(sub_masks.shape) == (None, None)
    assert keras.backend.standardize_dtype(sub_masks.dtype) == "bool"
    out = PersonScores()(SMILPooling()(sub_bags, mask=sub_masks), person_ids, mask=mask)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "person_probability": (None, None),
        "person_mask": (None, None),
    }
    for layer in (PersonSubBags(name="split"), PersonScores(name="merge")):
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        assert keras.saving.deserialize_keras_object(config).get_config() == layer.get_config()


@pytest.mark.parametrize(
    "person_ids, mask, message",
    [
        (np.zeros((2, 6, 1), "int32"), None, r"expected shape \(batch, M\)"),
        (np.zeros((2, 6), "int32"), np.ones((2, 5), bool), r"= \(2, 5\).*got \(2, 6\)"),
        (np.zeros((2, 6), "float32"), None, "integer dtype, got float32"),
        (np.array([[0, 6]], "int32"), None, r"0 \.\. M - 1 \(M = 2, -1 on padding\), got 6"),
    ],
    ids=["rank", "mask shape", "dtype", "id >= M"],
)
def test_bad_person_ids_are_refused_with_what_is_expected(person_ids, mask, message):
    with pytest.raises(ValueError, match="bad person_ids for layer .*" + message):
        PersonSubBags()(np.zeros((*person_ids.shape[:2], 3), "float32"), person_ids, mask=mask)


def test_compute_output_shape_gives_the_eager_shapes():
    ids = np.array([[0, 1, 0, -1], [0, 0, 1, 2]])
    mask = ids >= 0
    bags = np.random.default_rng(3).normal(size=(2, 4, 5)).astype("float32")
    sub_bags, sub_masks = PersonSubBags()(bags, ids, mask=mask)
    expected = ((8, 4, 5), (8, 4))
    assert (tuple(sub_bags.shape), tuple(sub_masks.shape)) == expected
    assert PersonSubBags().compute_output_shape(bags.shape, ids.shape) == expected
    assert PersonSubBags().compute_output_shape((None, None, 5), (None, None)) == (
        (None, None, 5),
        (None, None),
    )
    scores = PersonScores()(np.full((8, 1), 0.5, "float32"), ids, mask=mask)
    shapes = PersonScores().compute_output_shape((8, 1), ids.shape)
    assert shapes == {key: tuple(value.shape) for key, value in scores.items()}
