"""SpatialTemporalEncoder against a NumPy zero-padded convolution (Eq. 11)."""

import keras
import numpy as np
import pytest
from keras import ops

from smil_keras.layers import SpatialTemporalEncoder

RNG = np.random.default_rng(3)
KERNEL_SIZES = (1, 2, 3, 4)


def _numpy_encoder(h, kernels, biases, kernel_sizes):
    """ReLU(Conv1d_k(H)) with zeros padded (k - 1) // 2 before and k // 2 after the sequence."""
    outputs = []
    for k, kernel, bias in zip(kernel_sizes, kernels, biases, strict=True):
        padded = np.pad(h.astype("float64"), ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
        conv = sum(padded[:, t : t + h.shape[1]] @ kernel[t] for t in range(k)) + bias
        outputs.append(np.maximum(conv, 0.0))
    return np.stack(outputs, axis=1)


def _encoder(dim, filters=6):
    encoder = SpatialTemporalEncoder(kernel_sizes=KERNEL_SIZES, filters=filters)
    encoder.build((None, None, dim))
    weights = []
    for k in KERNEL_SIZES:
        weights += [RNG.normal(size=(k, dim, filters)), RNG.normal(size=(filters,)) * 0.1]
    encoder.set_weights(weights)
    return encoder, weights[0::2], weights[1::2]


def test_layer_contract(run_layer_test):
    h = RNG.normal(size=(2, 7, 5)).astype("float32")
    mask = np.array([[1] * 5 + [0] * 2, [1] * 7], bool)
    run_layer_test(
        SpatialTemporalEncoder, {"kernel_sizes": (1, 2, 3), "filters": 4}, h, mask, (2, 3, 7, 4)
    )


def test_matches_numpy_convolution():
    h = RNG.normal(size=(2, 7, 5)).astype("float32")
    encoder, kernels, biases = _encoder(5)
    expected = _numpy_encoder(h, kernels, biases, KERNEL_SIZES)
    np.testing.assert_allclose(ops.convert_to_numpy(encoder(h)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("position", [0, 3, 6])
def test_kernel_size_k_sees_at_most_k_neighbours(position):
    h = RNG.normal(size=(1, 7, 3)).astype("float32")
    encoder, kernels, biases = _encoder(3)
    encoder.set_weights(
        [np.abs(w) if w.ndim == 3 else np.ones_like(w) for w in encoder.get_weights()]
    )
    changed = h.copy()
    changed[0, position] += 5.0
    diff = np.abs(ops.convert_to_numpy(encoder(changed)) - ops.convert_to_numpy(encoder(h)))[0].max(
        -1
    )
    for index, k in enumerate(KERNEL_SIZES):
        # Output j sees instances j - (k - 1) // 2 ... j + k // 2.
        sees = [j for j in range(7) if j - (k - 1) // 2 <= position <= j + k // 2]
        assert sorted(np.flatnonzero(diff[index] > 1e-6)) == sees, k
        assert len(sees) <= k


def test_padded_bag_with_masked_garbage_equals_unpadded_bag():
    h = RNG.normal(size=(1, 5, 4)).astype("float32")
    encoder, _, _ = _encoder(4)
    padded = np.concatenate([h, RNG.normal(size=(1, 3, 4)).astype("float32") * 100], axis=1)
    mask = np.array([[True] * 5 + [False] * 3])
    out_padded = ops.convert_to_numpy(encoder(padded, mask=mask))
    np.testing.assert_allclose(
        out_padded[:, :, :5], ops.convert_to_numpy(encoder(h)), rtol=1e-5, atol=1e-6
    )
    assert np.all(out_padded[:, :, 5:] == 0.0)


def test_masked_hole_acts_like_zero_instance():
    h = RNG.normal(size=(1, 6, 4)).astype("float32")
    encoder, kernels, biases = _encoder(4)
    mask = np.array([[True, True, False, True, True, True]])
    zeroed = h.copy()
    zeroed[0, 2] = 0.0
    expected = _numpy_encoder(zeroed, kernels, biases, KERNEL_SIZES)
    expected[:, :, 2] = 0.0
    np.testing.assert_allclose(
        ops.convert_to_numpy(encoder(h, mask=mask)), expected, rtol=1e-4, atol=1e-5
    )


def test_rejects_bad_kernel_sizes():
    for bad in [(), (0, 1), (2, 2)]:
        with pytest.raises(ValueError, match="kernel_sizes"):
            SpatialTemporalEncoder(kernel_sizes=bad)


def test_mixed_bfloat16_policy(mixed_bfloat16):
    h = RNG.normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5], bool)
    encoder = SpatialTemporalEncoder(kernel_sizes=(1, 2), filters=3)
    out = encoder(h, mask=mask)
    assert encoder.dtype_policy.name == "mixed_bfloat16"
    assert ops.convert_to_numpy(encoder.convolutions[0].kernel).dtype == np.float32
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    out = ops.convert_to_numpy(ops.cast(out, "float32"))
    assert np.all(np.isfinite(out)) and np.all(out[0, :, 3:] == 0)


# --- People: no convolution across two people ---


def _numpy_person_encoder(h, person_ids, kernels, biases, kernel_sizes):
    """Eq. 11 within each person: every person's instances (in bag order) encoded as a bag of
    their own, put back at their positions."""
    batch, size, _ = h.shape
    out = np.zeros((batch, len(kernel_sizes), size, kernels[0].shape[-1]))
    for b in range(batch):
        for person in np.unique(person_ids[b]):
            where = np.flatnonzero(person_ids[b] == person)
            out[b][:, where] = _numpy_encoder(h[b : b + 1, where], kernels, biases, kernel_sizes)[0]
    return out


@pytest.mark.parametrize(
    "person_ids",
    [
        [[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2, 2]],  # person by person, as bags are made
        [[0, 1, 0, 1, 0, 1, 0], [2, 0, 1, 0, 2, 1, 0]],  # frame order: people interleaved
        [[0, 0, 1, 0, 1, 1, 0], [5, 5, 5, 5, 5, 5, 5]],  # any id works; one person alone
    ],
    ids=["grouped", "interleaved", "mixed"],
)
def test_each_person_is_encoded_as_a_bag_of_their_own(person_ids):
    person_ids = np.array(person_ids, "int32")
    h = RNG.normal(size=(2, 7, 5)).astype("float32")
    encoder, kernels, biases = _encoder(5)
    expected = _numpy_person_encoder(h, person_ids, kernels, biases, KERNEL_SIZES)
    actual = ops.convert_to_numpy(encoder(h, person_ids=person_ids))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_one_person_gives_the_encodings_without_person_ids():
    h = RNG.normal(size=(2, 7, 4)).astype("float32")
    encoder, _, _ = _encoder(4)
    mask = np.array([[True] * 5 + [False] * 2, [True, True, False, True, True, True, True]])
    padded = np.array([[0] * 5 + [-1] * 2, [0] * 7], "int32")  # -1 on the padding at the end
    for person_ids in (np.zeros((2, 7), "int32"), padded):
        # float rounding only: the person-aware path is a matrix product, not a convolution
        np.testing.assert_allclose(
            ops.convert_to_numpy(encoder(h, mask=mask, person_ids=person_ids)),
            ops.convert_to_numpy(encoder(h, mask=mask)),
            rtol=1e-6,
            atol=1e-6,
        )


def test_a_face_never_changes_another_persons_encodings():
    h = RNG.normal(size=(1, 8, 3)).astype("float32")
    person_ids = np.array([[0, 0, 0, 0, 1, 1, 1, 1]], "int32")
    encoder, _, _ = _encoder(3)
    encoder.set_weights(
        [np.abs(w) if w.ndim == 3 else np.ones_like(w) for w in encoder.get_weights()]
    )
    changed = h.copy()
    changed[0, 4] += 5.0  # person 1's first face, right after person 0's last
    before = ops.convert_to_numpy(encoder(h, person_ids=person_ids))
    after = ops.convert_to_numpy(encoder(changed, person_ids=person_ids))
    np.testing.assert_array_equal(after[:, :, :4], before[:, :, :4])
    assert np.abs(after[:, :, 4:] - before[:, :, 4:]).max() > 0  # person 1's own do change
    # without person ids the convolutions with k >= 3 reach across (the Keras "same" window)
    mixed = ops.convert_to_numpy(encoder(changed)) - ops.convert_to_numpy(encoder(h))
    assert np.abs(mixed[:, 2:, 3]).max() > 0


def test_person_ids_must_be_integers_shaped_like_the_bag():
    h = RNG.normal(size=(2, 5, 3)).astype("float32")
    encoder, _, _ = _encoder(3)
    with pytest.raises(ValueError, match=r"bad person_ids for layer .*\(2, 5\).*\(5, 2\)"):
        encoder(h, person_ids=np.zeros((5, 2), "int32"))
    with pytest.raises(ValueError, match="bad person_ids .*integer dtype, got float32"):
        encoder(h, person_ids=np.zeros((2, 5), "float32"))


def test_symbolic_call_with_person_ids():
    encoder = SpatialTemporalEncoder(kernel_sizes=(1, 3), filters=4)
    h = keras.Input((None, 6))
    person_ids = keras.Input((None,), dtype="int32")
    assert tuple(encoder(h, person_ids=person_ids).shape) == (None, 2, None, 4)


def test_person_ids_under_mixed_bfloat16(mixed_bfloat16):
    h = RNG.normal(size=(2, 5, 4)).astype("float32")
    person_ids = np.array([[0, 1, 0, 1, -1], [0, 0, 1, 1, 1]], "int32")
    mask = person_ids >= 0
    encoder = SpatialTemporalEncoder(kernel_sizes=(1, 2, 3), filters=3)
    out = encoder(h, mask=mask, person_ids=person_ids)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    reference = SpatialTemporalEncoder(kernel_sizes=(1, 2, 3), filters=3, dtype="float32")
    reference.build((None, None, 4))
    reference.set_weights(encoder.get_weights())
    expected = ops.convert_to_numpy(reference(h, mask=mask, person_ids=person_ids))
    out = ops.convert_to_numpy(ops.cast(out, "float32"))
    np.testing.assert_allclose(out, expected, atol=0.05, rtol=0.05)
    assert np.all(out[0, :, 4] == 0)
