"""`FaceEncoder`: padded faces never reach a backbone's batch statistics."""

import keras
import numpy as np

from smil_keras.models import FaceEncoder, build_backbone


def encode(encoder, faces, mask, training):
    return keras.ops.convert_to_numpy(encoder(faces, mask=mask, training=training))


def test_in_training_real_faces_embed_alike_whatever_the_padding_holds():
    keras.utils.set_random_seed(0)
    encoder = FaceEncoder(build_backbone("tiny", image_size=16))
    rng = np.random.default_rng(0)
    faces = rng.uniform(0, 255, (3, 4, 16, 16, 3)).astype("float32")
    mask = np.array([[True] * 4, [True, True, False, False], [True, False, False, False]])
    zeros, noise = faces.copy(), faces.copy()
    zeros[~mask] = 0
    noise[~mask] = rng.uniform(0, 255, noise[~mask].shape)
    # Batch normalization in training mode: every face's embedding depends on the batch.
    a, b = encode(encoder, zeros, mask, True), encode(encoder, noise, mask, True)
    np.testing.assert_allclose(a[mask], b[mask], rtol=1e-5, atol=1e-6)
    # Reference: the same real faces with each padded slot holding its bag's first face.
    filled = zeros.copy()
    for bag in range(3):
        filled[bag, ~mask[bag]] = zeros[bag, 0]
    reference = keras.ops.convert_to_numpy(encoder(filled, training=True))
    np.testing.assert_allclose(a[mask], reference[mask], rtol=1e-5, atol=1e-6)


def test_in_evaluation_each_face_is_embedded_on_its_own():
    encoder = FaceEncoder(build_backbone("tiny", image_size=16))
    faces = np.random.default_rng(1).uniform(0, 255, (2, 3, 16, 16, 3)).astype("float32")
    mask = np.array([[True, True, True], [True, False, False]])
    together = encode(encoder, faces, mask, False)
    alone = keras.ops.convert_to_numpy(encoder.backbone(faces[1, :1], training=False))
    np.testing.assert_allclose(together[1, 0], alone[0], rtol=1e-5, atol=1e-6)
    assert together.shape == (2, 3, 64)
