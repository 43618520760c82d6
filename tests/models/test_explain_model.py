import keras
import numpy as np
import pytest

from smil_keras.models import VARIANTS, explain_model


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    return np.log(p) - np.log1p(-p)


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def weights(layer):
    return {v.name: keras.ops.convert_to_numpy(v) for v in layer.weights}


def conv1d_same(h, kernel, bias):
    """ReLU(Conv1D) with Keras "same" padding: (k - 1) // 2 zeros before, k // 2 after (Eq. 11)."""
    k = kernel.shape[0]
    padded = np.pad(h, (((k - 1) // 2, k // 2), (0, 0)))
    out = np.stack([sum(padded[j + t] @ kernel[t] for t in range(k)) for j in range(len(h))])
    return np.maximum(out + bias, 0.0)


def smil(c, w, instance_logits):
    """S-MIL (Eq. 9/10): attention a_j = softmax(w . c_j), logit(p) = sum_j a_j logit(p_j)."""
    a = softmax(c @ w[:, 0])
    return a, float(a @ instance_logits), a @ c


def reference_s_mil_t(model, h):
    """NumPy S-MIL-T (Eq. 11, 12) for one bag of embeddings h (M, D)."""
    encoder = model.get_layer("encoder")
    inner = []
    for conv, k in zip(encoder.convolutions, model.kernel_sizes, strict=True):
        c = conv1d_same(h, *(keras.ops.convert_to_numpy(v) for v in conv.weights))
        pooling = weights(model.get_layer(f"pooling_k{k}"))
        face_logits = c @ pooling["classifier_kernel"][:, 0] + pooling["classifier_bias"][0]
        a, bag_logit, embedding = smil(c, pooling["attention_kernel"], face_logits)
        inner.append((a, face_logits, bag_logit, embedding))
    attention_kernel = weights(model.get_layer("pooling"))["attention_kernel"]
    bag_embeddings = np.stack([embedding for *_, embedding in inner])
    bag_logits = np.array([bag_logit for _, _, bag_logit, _ in inner])
    b, video_logit, _ = smil(bag_embeddings, attention_kernel, bag_logits)
    face_attention = sum(b_k * a for b_k, (a, *_) in zip(b, inner, strict=True))
    face_logit = sum(b_k * f for b_k, (_, f, *_) in zip(b, inner, strict=True))
    return sigmoid(video_logit), sigmoid(face_logit), face_attention


def embeddings(model, faces):
    batch, num_faces = faces.shape[:2]
    flat = faces.reshape(batch * num_faces, *faces.shape[2:])
    return np.asarray(model.backbone(flat)).reshape(batch, num_faces, -1)


@pytest.fixture(scope="module")
def bags(random_faces):
    faces = random_faces(2, 5, seed=7)
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    return {"faces": faces, "mask": mask}


@pytest.mark.parametrize("variant", VARIANTS)
def test_explanation_is_consistent_with_the_detector(detector, bags, variant):
    model = detector(variant)
    out = explain_model(model)(bags)
    assert set(out) == {"fake_probability", "face_probability", "attention"}
    np.testing.assert_allclose(
        np.asarray(out["fake_probability"]), np.asarray(model(bags)), atol=1e-6
    )
    attention, face = np.asarray(out["attention"]), np.asarray(out["face_probability"])
    assert attention.shape == face.shape == (2, 5)
    mask = bags["mask"]
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(attention >= 0) and np.all(attention[~mask] == 0) and np.all(face[~mask] == 0)
    assert np.all((face[mask] > 0) & (face[mask] < 1))


def test_s_mil_matches_a_numpy_reference_of_eq_9_10_11(detector, bags):
    model = detector("s-mil")
    out = {k: np.asarray(v) for k, v in explain_model(model)(bags).items()}
    conv = model.get_layer("encoder").convolutions[0]
    pooling = weights(model.get_layer("pooling"))
    for i, h in enumerate(embeddings(model, bags["faces"])):
        c = conv1d_same(h[bags["mask"][i]], *(keras.ops.convert_to_numpy(v) for v in conv.weights))
        face_logits = c @ pooling["classifier_kernel"][:, 0] + pooling["classifier_bias"][0]
        a, bag_logit, _ = smil(c, pooling["attention_kernel"], face_logits)
        n = len(c)
        np.testing.assert_allclose(out["fake_probability"][i, 0], sigmoid(bag_logit), rtol=1e-4)
        np.testing.assert_allclose(out["attention"][i, :n], a, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out["face_probability"][i, :n], sigmoid(face_logits), rtol=1e-4)


def test_s_mil_t_matches_a_numpy_reference_of_the_super_bag_eq_12(detector, bags):
    model = detector("s-mil-t")
    out = {k: np.asarray(v) for k, v in explain_model(model)(bags).items()}
    for i, h in enumerate(embeddings(model, bags["faces"])):
        n = bags["mask"][i].sum()
        video, faces, attention = reference_s_mil_t(model, h[:n])
        np.testing.assert_allclose(out["fake_probability"][i, 0], video, rtol=1e-4)
        np.testing.assert_allclose(out["face_probability"][i, :n], faces, rtol=1e-4)
        np.testing.assert_allclose(out["attention"][i, :n], attention, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "variant, rule",
    [
        ("mil", lambda p: 1 - np.prod(1 - p)),  # Eq. 4
        ("xn-avg", np.mean),  # Eq. 2
        ("xn-max", np.max),
    ],
)
def test_baselines_combine_face_probabilities_by_their_rule(detector, bags, variant, rule):
    out = {k: np.asarray(v) for k, v in explain_model(detector(variant))(bags).items()}
    for i, mask in enumerate(bags["mask"]):
        expected = rule(out["face_probability"][i, mask])
        np.testing.assert_allclose(out["fake_probability"][i, 0], expected, rtol=1e-5)


def test_lstm_decision_is_the_classifier_on_the_state_after_the_last_real_face(detector, bags):
    model = detector("lstm")
    out = {k: np.asarray(v) for k, v in explain_model(model)(bags).items()}
    reference = keras.layers.LSTM(8)  # plain Keras LSTM over the unpadded sequence
    classifier = model.get_layer("classifier")
    for i, h in enumerate(embeddings(model, bags["faces"])):
        n = bags["mask"][i].sum()
        reference.build((1, n, h.shape[-1]))
        reference.set_weights(model.get_layer("lstm").get_weights())
        expected = np.asarray(classifier(reference(h[None, :n])))[0, 0]
        np.testing.assert_allclose(out["fake_probability"][i, 0], expected, rtol=1e-5)
        np.testing.assert_allclose(out["face_probability"][i, n - 1], expected, rtol=1e-5)
        assert out["attention"][i, n - 1] == 1.0


def test_explain_model_works_on_a_detector_loaded_from_keras_file(detector, bags, tmp_path):
    model = detector("s-mil-t")
    model.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras")
    expected = explain_model(model)(bags)
    actual = explain_model(loaded)(bags)
    for key in expected:
        np.testing.assert_allclose(np.asarray(actual[key]), np.asarray(expected[key]), atol=1e-6)


def test_explain_model_rejects_other_models():
    with pytest.raises(TypeError, match="needs a SMILDetector"):
        explain_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
