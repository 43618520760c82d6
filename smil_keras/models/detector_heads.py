"""The multiple-instance heads of a detector, one builder per variant, in one registry.

A head turns a bag of face embeddings ``H = [h_1, ..., h_M]`` ``(batch, M, D)`` and its mask
``(batch, M)`` into the detector's outputs, a dict of symbolic tensors:

- ``"fake_probability"`` ``(batch, 1)``: the probability that the video is fake;
- ``"face_probability"`` ``(batch, M)``: each face's fake probability (0 on padding);
- ``"attention"`` ``(batch, M)``: each face's weight in the decision, summing to 1 over the
  real faces (0 on padding).

`HEADS` maps each variant name to its builder; `VARIANTS` (its keys), `build_detector`, the
command line and the docs' table all read it, so a new head is one function and one entry.
Every builder takes ``(embeddings, mask, person_ids=None, **settings)`` with the detector's
head settings as keywords (``filters``, ``kernel_sizes``, ``attention_units``, ``gated``,
``lstm_units``, ``dtype``); each uses its own and ignores the others.

**People.** Given ``person_ids`` (int ``(batch, M)``, per-bag person indices ``0 .. P - 1``
with ``P <= M``, -1 on padding), the builder also returns, under ``"persons"``, the same head
(the same layers) run on the graph that knows who is who: the three outputs above with a
person-aware temporal encoder (S-MIL-T never convolves across two people, see
`SpatialTemporalEncoder`), plus

- ``"person_probability"`` ``(batch, P)`` with ``P = M``: each person's fake probability,
  the head applied to the sub-bag of that person's faces, i.e. what the detector says about
  a video showing that person alone (0 for a person index nobody has);
- ``"person_mask"`` bool ``(batch, P)``: True for the people the bag shows.

For S-MIL that is ``logit(p_person) = sum_{j in person} a'_j logit(p_j)`` with the attention
re-normalised within the person (``a'_j = softmax`` of the same scores over that person's
faces); for S-MIL-T each kernel's S-MIL over the person's faces, then the super-bag (Eq. 12)
over those; for the baselines their pooling over the person's faces (noisy-or, mean, max,
attention MIL, an LSTM over the person's faces in bag order). The sub-bags are computed all
at once (`PersonSubBags`: ``M`` masked copies of each bag), with no new weights.

``dtype`` is the dtype policy of the layers that may compute in reduced precision (the
temporal convolutions, the LSTM); `SMILDetector` passes the backbone's. The poolings and the
classifiers always compute in float32 (sums of log-odds and softmaxes over the faces lose
too much in bfloat16), so every output is float32.

Example:

>>> embeddings = keras.Input((None, 64))
>>> mask = keras.Input((None,), dtype="bool")
>>> outputs = HEADS["s-mil-t"](embeddings, mask, filters=16)
>>> head = keras.Model([embeddings, mask], outputs)
>>> sorted(outputs)
['attention', 'face_probability', 'fake_probability']
>>> person_ids = keras.Input((None,), dtype="int32")
>>> outputs = HEADS["s-mil-t"](embeddings, mask, person_ids, filters=16)
>>> sorted(outputs["persons"])
['attention', 'face_probability', 'fake_probability', 'person_mask', 'person_probability']
"""

import keras
from keras import ops

from smil_keras.layers import (
    AttentionMILPooling,
    NoisyOrMILPooling,
    ScorePooling,
    SMILPooling,
    SpatialTemporalEncoder,
)
from smil_keras.layers.person_scores import PersonScores
from smil_keras.layers.person_sub_bags import PersonSubBags

# Clip for turning probabilities back into log-odds (S-MIL-T's per-face probability).
_EPSILON = 1e-7

# The poolings' own policy: they compute in float32 under any global policy.
_POOLING_DTYPE = "float32"


def s_mil_head(embeddings, mask, person_ids=None, *, filters=512, dtype=None, **other_settings):
    """S-MIL (Eq. 9/10) on ``c = ReLU(Conv1D_{1, filters}(H))``: the paper's "S-MIL, k = 1",
    the spatial branch of Eq. 11, so that S-MIL is S-MIL-T restricted to ``k = 1``."""
    encoder = SpatialTemporalEncoder((1,), filters, dtype=dtype, name="encoder")
    pooling = SMILPooling(return_details=True, dtype=_POOLING_DTYPE, name="pooling")

    def pool(bags, mask):
        return _explained(pooling(bags[:, 0], mask=mask))

    return _head(embeddings, mask, person_ids, pool, encoder)


def s_mil_t_head(
    embeddings,
    mask,
    person_ids=None,
    *,
    filters=512,
    kernel_sizes=(1, 2, 3),
    dtype=None,
    **other_settings,
):
    """S-MIL-T: spatial-temporal bags ``c^k`` for ``k`` in ``kernel_sizes`` (Eq. 11), each
    pooled by its own S-MIL into ``p_k``; the K bags form a super-bag pooled by S-MIL again,
    ``p = S-MIL(p_1, ..., p_K)`` (Eq. 12), with attention ``b_k`` computed from the bags'
    pooled embeddings ``sum_j a^k_j c^k_j``.

    Per face ``j``: attention ``sum_k b_k a^k_j`` (sums to 1 over the real faces) and
    probability ``sigmoid(sum_k b_k logit(p^k_j))``, the super-bag's own rule applied to the
    face's instances in the K bags.
    """
    kernel_sizes = tuple(kernel_sizes)
    encoder = SpatialTemporalEncoder(kernel_sizes, filters, dtype=dtype, name="encoder")
    inner_poolings = [
        SMILPooling(return_details=True, dtype=_POOLING_DTYPE, name=f"pooling_k{k}")
        for k in kernel_sizes
    ]
    outer_pooling = SMILPooling(return_details=True, dtype=_POOLING_DTYPE, name="pooling")

    def pool(bags, mask):
        inner = [pooling(bags[:, index], mask=mask) for index, pooling in enumerate(inner_poolings)]
        outer = outer_pooling(
            ops.stack([details["embedding"] for details in inner], axis=1),
            instance_logits=ops.concatenate([details["logit"] for details in inner], axis=-1),
        )
        weights = ops.expand_dims(outer["attention"], -1)  # b_k, (batch, K, 1)
        attention = ops.sum(weights * ops.stack([d["attention"] for d in inner], axis=1), axis=1)
        instance = ops.stack([d["instance"] for d in inner], axis=1)
        instance = ops.clip(instance, _EPSILON, 1 - _EPSILON)
        face_logit = ops.sum(weights * (ops.log(instance) - ops.log1p(-instance)), axis=1)
        face_probability = ops.where(mask, ops.sigmoid(face_logit), ops.zeros_like(face_logit))
        return {
            "fake_probability": outer["bag"],
            "face_probability": face_probability,
            "attention": attention,
        }

    return _head(embeddings, mask, person_ids, pool, encoder)


def noisy_or_mil_head(embeddings, mask, person_ids=None, **other_settings):
    """Noisy-or MIL, ``p = 1 - prod_j (1 - p_j)`` (Eq. 4); attention ``1 / n``."""
    pooling = NoisyOrMILPooling(return_details=True, dtype=_POOLING_DTYPE, name="pooling")
    return _head(embeddings, mask, person_ids, _pooled(pooling))


def attention_mil_head(
    embeddings, mask, person_ids=None, *, attention_units=128, gated=False, **other_settings
):
    """Attention MIL of Ilse et al. (2018), gated with ``gated=True``."""
    pooling = AttentionMILPooling(
        attention_units, gated=gated, return_details=True, dtype=_POOLING_DTYPE, name="pooling"
    )
    return _head(embeddings, mask, person_ids, _pooled(pooling))


def xn_avg_head(embeddings, mask, person_ids=None, **other_settings):
    """A per-face classifier averaged over the faces (Eq. 2): the paper's frame-based
    XceptionNet baseline; attention ``1 / n``."""
    pooling = ScorePooling("mean", return_details=True, dtype=_POOLING_DTYPE, name="pooling")
    return _head(embeddings, mask, person_ids, _pooled(pooling))


def xn_max_head(embeddings, mask, person_ids=None, **other_settings):
    """A per-face classifier maxed over the faces; attention 1 on the top face."""
    pooling = ScorePooling("max", return_details=True, dtype=_POOLING_DTYPE, name="pooling")
    return _head(embeddings, mask, person_ids, _pooled(pooling))


def lstm_head(embeddings, mask, person_ids=None, *, lstm_units=256, dtype=None, **other_settings):
    """An LSTM over the face sequence, then a sigmoid classifier on its state after the last
    real face. That face gets attention 1; a face's probability is the classifier on the
    state after it (the running prediction up to that face). A person's probability is the
    LSTM over that person's faces alone (masked steps carry the state over)."""
    lstm = keras.layers.LSTM(
        lstm_units, return_sequences=True, return_state=True, dtype=dtype, name="lstm"
    )
    classifier = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="classifier")

    def pool(bags, mask):
        sequence, state, _ = lstm(bags, mask=mask)
        steps = ops.squeeze(classifier(sequence), -1)
        positions = ops.cumsum(ops.ones_like(mask, dtype="int32"), axis=1) - 1  # 0, 1, ..., M - 1
        last = ops.max(ops.where(mask, positions, -1), axis=1, keepdims=True)
        attention = ops.cast(ops.equal(positions, last), "float32")
        return {
            "fake_probability": classifier(state),
            "face_probability": ops.where(mask, steps, ops.zeros_like(steps)),
            "attention": attention,
        }

    return _head(embeddings, mask, person_ids, pool)


def _head(embeddings, mask, person_ids, pool, encoder=None):
    """A head's outputs: ``pool(bags, mask)`` on the (encoded) embeddings and, with
    ``person_ids``, under ``"persons"`` the same on the person-aware encoding plus each
    person's probability (``pool`` on every person's sub-bag at once).

    ``pool`` maps bags (``(batch, M, D)`` embeddings, or the encoder's ``(batch, K, M, r)``)
    and a mask to the three outputs; it must call the head's layers, created once outside
    it, so that every graph shares them.
    """

    def encode(person_ids):
        if encoder is None:
            return embeddings
        return encoder(embeddings, mask=mask, person_ids=person_ids)

    outputs = pool(encode(None), mask)
    if person_ids is None:
        return outputs
    bags = encode(person_ids)
    persons = dict(outputs) if encoder is None else pool(bags, mask)
    sub_bags, sub_masks = PersonSubBags(name="person_sub_bags")(bags, person_ids, mask=mask)
    probability = pool(sub_bags, sub_masks)["fake_probability"]
    persons.update(PersonScores(name="person_scores")(probability, person_ids, mask=mask))
    return {**outputs, "persons": persons}


def _pooled(pooling):
    """``pool(bags, mask)`` for a head that is one pooling layer."""

    def pool(bags, mask):
        return _explained(pooling(bags, mask=mask))

    return pool


def _explained(details):
    """A pooling's details (``return_details=True``) as a head's outputs."""
    return {
        "fake_probability": details["bag"],
        "face_probability": details["instance"],
        "attention": details["attention"],
    }


HEADS = {
    "s-mil": s_mil_head,
    "s-mil-t": s_mil_t_head,
    "mil": noisy_or_mil_head,
    "att-mil": attention_mil_head,
    "xn-avg": xn_avg_head,
    "xn-max": xn_max_head,
    "lstm": lstm_head,
}

VARIANTS = tuple(HEADS)


def check_variant(variant):
    """Raises a `ValueError` naming the valid variants unless ``variant`` is one of `HEADS`.

    Example:

    >>> check_variant("smil")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Unknown variant 'smil'; expected one of ['s-mil', 's-mil-t', 'mil', ...].
    """
    if variant not in HEADS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {list(HEADS)}.")
