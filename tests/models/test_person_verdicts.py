"""A verdict per person: ``person_ids`` keep S-MIL-T's convolutions within each person, and
each person's probability is the detector's head on that person's faces alone (NumPy
references of Eq. 9-12, and the detector run on the person's faces)."""

import keras
import numpy as np
import pytest

from smil_keras.models import VARIANTS, build_detector, explain_model

# Bag 0 is ordered person by person (as the data pipeline makes bags); bag 1 in frame order,
# two people interleaved, with padding and no person 2.
PERSON_IDS = np.array([[0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 3, -1]], "int32")
MASK = PERSON_IDS >= 0
PERSON_OUTPUTS = {"fake_probability", "face_probability", "attention"} | {
    "person_probability",
    "person_mask",
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def numpy_weights(layer):
    return {v.name: keras.ops.convert_to_numpy(v).astype("float64") for v in layer.weights}


def conv1d_same(h, kernel, bias):
    """ReLU(Conv1D) with zeros (k - 1) // 2 before and k // 2 after the sequence (Eq. 11)."""
    k = kernel.shape[0]
    padded = np.pad(h, (((k - 1) // 2, k // 2), (0, 0)))
    out = np.stack([sum(padded[j + t] @ kernel[t] for t in range(k)) for j in range(len(h))])
    return np.maximum(out + bias, 0.0)


def encode_by_person(model, h, person_ids):
    """Eq. 11 within each person: ``{k: c^k (n, r)}``, each person's faces convolved alone."""
    encoder = model.get_layer("encoder")
    bags = {}
    for conv, k in zip(encoder.convolutions, encoder.kernel_sizes, strict=True):
        kernel, bias = (keras.ops.convert_to_numpy(v).astype("float64") for v in conv.weights)
        c = np.zeros((len(h), kernel.shape[-1]))
        for person in np.unique(person_ids):
            where = np.flatnonzero(person_ids == person)
            c[where] = conv1d_same(h[where], kernel, bias)
        bags[k] = c
    return bags


def s_mil(c, weights, instance_logits=None):
    """S-MIL (Eq. 9/10): ``a = softmax(w . c)``; bag logit ``sum_j a_j logit(p_j)``."""
    if instance_logits is None:
        instance_logits = c @ weights["classifier_kernel"][:, 0] + weights["classifier_bias"][0]
    a = softmax(c @ weights["attention_kernel"][:, 0])
    return float(a @ instance_logits), a @ c


def s_mil_t(model, bags):
    """S-MIL-T's video logit (Eq. 12) from the K encodings ``{k: c^k}`` of the faces pooled."""
    inner = [s_mil(c, numpy_weights(model.get_layer(f"pooling_k{k}"))) for k, c in bags.items()]
    logits = np.array([logit for logit, _ in inner])
    embeddings = np.stack([embedding for _, embedding in inner])
    return s_mil(embeddings, numpy_weights(model.get_layer("pooling")), logits)[0]


def embeddings(model, faces):
    batch, num_faces = faces.shape[:2]
    flat = faces.reshape(batch * num_faces, *faces.shape[2:])
    return (
        keras.ops.convert_to_numpy(model.backbone(flat))
        .astype("float64")
        .reshape(batch, num_faces, -1)
    )


def as_numpy(outputs):
    return {name: keras.ops.convert_to_numpy(value) for name, value in outputs.items()}


@pytest.fixture(scope="module")
def bags(random_faces):
    return {"faces": random_faces(2, 6, seed=17), "mask": MASK, "person_ids": PERSON_IDS}


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_persons_probability_is_the_detector_on_that_persons_faces_alone(
    detector, bags, variant
):
    model = detector(variant)
    out = as_numpy(explain_model(model)(bags))
    assert set(out) == PERSON_OUTPUTS
    assert out["person_probability"].shape == out["person_mask"].shape == (2, 6)
    assert out["person_mask"].dtype == bool and np.all(np.isfinite(out["person_probability"]))
    for b in range(2):
        for person in range(6):
            faces = bags["faces"][b : b + 1, (PERSON_IDS[b] == person) & MASK[b]]
            if not faces.shape[1]:  # nobody with this id: masked out, 0
                assert not out["person_mask"][b, person]
                assert out["person_probability"][b, person] == 0.0
                continue
            assert out["person_mask"][b, person]
            alone = {"faces": faces, "mask": np.ones(faces.shape[:2], bool)}
            np.testing.assert_allclose(
                out["person_probability"][b, person],
                keras.ops.convert_to_numpy(model(alone))[0, 0],
                rtol=1e-4,
                atol=1e-6,
                err_msg=f"bag {b}, person {person}",
            )


def test_s_mil_person_probability_renormalises_the_attention_within_the_person(detector, bags):
    model = detector("s-mil")
    out = as_numpy(explain_model(model)(bags))
    pooling = numpy_weights(model.get_layer("pooling"))
    for b, h in enumerate(embeddings(model, bags["faces"])):
        c = encode_by_person(model, h, PERSON_IDS[b])[1]  # k = 1: one face at a time
        scores = c @ pooling["attention_kernel"][:, 0]
        logits = c @ pooling["classifier_kernel"][:, 0] + pooling["classifier_bias"][0]
        for person in np.unique(PERSON_IDS[b][MASK[b]]):
            faces = PERSON_IDS[b] == person
            a = softmax(scores[faces])  # = a_j / sum_{i in person} a_i of the whole video
            video_a = softmax(scores[MASK[b]])[faces[MASK[b]]]
            np.testing.assert_allclose(a, video_a / video_a.sum(), rtol=1e-10)
            expected = sigmoid(a @ logits[faces])
            np.testing.assert_allclose(out["person_probability"][b, person], expected, rtol=1e-4)


def test_s_mil_t_pools_each_person_and_the_video_with_convolutions_within_people(detector, bags):
    model = detector("s-mil-t")
    out = as_numpy(explain_model(model)(bags))
    for b, h in enumerate(embeddings(model, bags["faces"])):
        real = MASK[b]
        video = encode_by_person(model, h[real], PERSON_IDS[b][real])
        np.testing.assert_allclose(
            out["fake_probability"][b, 0], sigmoid(s_mil_t(model, video)), rtol=1e-4
        )
        for person in np.unique(PERSON_IDS[b][real]):
            faces = PERSON_IDS[b] == person
            alone = encode_by_person(model, h[faces], PERSON_IDS[b][faces])
            np.testing.assert_allclose(
                out["person_probability"][b, person], sigmoid(s_mil_t(model, alone)), rtol=1e-4
            )


@pytest.mark.parametrize(
    "variant, rule",
    [("mil", lambda p: 1 - np.prod(1 - p)), ("xn-avg", np.mean), ("xn-max", np.max)],
)
def test_baselines_pool_each_persons_face_probabilities_by_their_rule(
    detector, bags, variant, rule
):
    out = as_numpy(explain_model(detector(variant))(bags))
    for b in range(2):
        for person in np.unique(PERSON_IDS[b][MASK[b]]):
            faces = out["face_probability"][b, PERSON_IDS[b] == person]
            np.testing.assert_allclose(out["person_probability"][b, person], rule(faces), rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_one_person_video_gives_todays_numbers(detector, random_faces, variant):
    model = detector(variant)
    faces = random_faces(2, 5, seed=23)
    mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    one_person = np.where(mask, 0, -1).astype("int32")
    explainer = explain_model(model)
    today = as_numpy(explainer({"faces": faces, "mask": mask}))
    assert set(today) == {"fake_probability", "face_probability", "attention"}
    people = as_numpy(explainer({"faces": faces, "mask": mask, "person_ids": one_person}))
    for name, value in today.items():
        np.testing.assert_allclose(people[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
    with_ids = model({"faces": faces, "mask": mask, "person_ids": one_person})
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(with_ids), today["fake_probability"], rtol=1e-6, atol=1e-6
    )
    # the one person's verdict is the video's
    np.testing.assert_allclose(
        people["person_probability"][:, 0], today["fake_probability"][:, 0], rtol=1e-6
    )
    np.testing.assert_array_equal(people["person_mask"], np.arange(5)[None].repeat(2, 0) == 0)


def test_s_mil_t_with_person_ids_does_not_depend_on_how_people_are_interleaved(
    detector, random_faces
):
    model = detector("s-mil-t")
    faces = random_faces(1, 6, seed=29)
    interleaved = np.array([[0, 1, 0, 1, 0, 1]], "int32")
    order = np.argsort(interleaved[0], kind="stable")  # person by person, bag order kept
    mask = np.ones((1, 6), bool)
    explainer = explain_model(model)
    frame_order = as_numpy(explainer({"faces": faces, "mask": mask, "person_ids": interleaved}))
    by_person = as_numpy(
        explainer({"faces": faces[:, order], "mask": mask, "person_ids": interleaved[:, order]})
    )
    for name in ("fake_probability", "person_probability", "person_mask"):
        np.testing.assert_allclose(by_person[name], frame_order[name], rtol=1e-5, atol=1e-7)
    for name in ("face_probability", "attention"):  # per face, in each bag's own order
        np.testing.assert_allclose(by_person[name], frame_order[name][:, order], rtol=1e-5)
    # without person ids the temporal convolutions mix the two people
    mixed = keras.ops.convert_to_numpy(model({"faces": faces, "mask": mask}))
    assert abs(mixed[0, 0] - frame_order["fake_probability"][0, 0]) > 1e-6


def test_explain_model_without_person_ids_returns_exactly_the_three_outputs(detector, bags):
    explainer = explain_model(detector("s-mil-t"))
    for inputs in ({"faces": bags["faces"], "mask": MASK}, {**bags, "person_ids": None}):
        assert set(explainer(inputs)) == {"fake_probability", "face_probability", "attention"}
    assert set(explainer.predict(bags, verbose=0)) == PERSON_OUTPUTS


def test_person_outputs_are_public_and_on_the_detectors_layers(detector, bags):
    model = detector("att-mil")
    assert set(model.person_inputs) == {"faces", "mask", "person_ids"}
    assert set(model.person_outputs) == PERSON_OUTPUTS
    own = keras.Model(model.person_inputs, model.person_outputs)
    assert {layer.name for layer in model.layers} <= {layer.name for layer in own.layers}
    expected = as_numpy(explain_model(model)(bags))
    for name, value in as_numpy(own(bags)).items():
        np.testing.assert_allclose(value, expected[name], atol=1e-6)


def test_a_detector_trains_on_bags_with_person_ids_and_reloads(tiny_kwargs, random_faces, tmp_path):
    keras.utils.set_random_seed(1)
    model = build_detector("s-mil-t", **tiny_kwargs)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    inputs = {
        "faces": random_faces(4, 6, seed=31),
        "mask": np.concatenate([MASK, MASK]),
        "person_ids": np.concatenate([PERSON_IDS, PERSON_IDS]),
    }
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(inputs, np.array([[1], [0], [1], [0]], "float32"), batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(b, a) for b, a in zip(before, model.get_weights(), strict=True))
    model.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras")
    expected, actual = explain_model(model)(inputs), explain_model(loaded)(inputs)
    for name in PERSON_OUTPUTS:
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(actual[name]), keras.ops.convert_to_numpy(expected[name])
        )


def test_person_ids_beyond_the_bag_are_refused(detector, bags):
    with pytest.raises(ValueError, match=r"person_ids.*0 \.\. M - 1 \(M = 6.*got 7"):
        explain_model(detector("s-mil"))({**bags, "person_ids": np.full((2, 6), 7, "int32")})
