"""The video-level DeepFake detector: a backbone per face, then a multiple-instance head."""

import keras
from keras import ops

from smil_keras.layers import (
    AttentionMILPooling,
    NoisyOrMILPooling,
    ScorePooling,
    SMILPooling,
    SpatialTemporalEncoder,
)
from smil_keras.models.backbone import build_backbone
from smil_keras.models.face_encoder import FaceEncoder

VARIANTS = ("s-mil", "s-mil-t", "mil", "att-mil", "xn-avg", "xn-max", "lstm")

# Clip for turning probabilities back into log-odds (S-MIL-T's per-face probability).
_EPSILON = 1e-7


def _check_variant(variant):
    """Raises a `ValueError` naming the valid variants unless ``variant`` is one of them."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {list(VARIANTS)}.")


@keras.saving.register_keras_serializable(package="smil_keras")
class SMILDetector(keras.Model):
    """Video-level fake probability from a bag of face crops (S-MIL, Li et al. 2020).

    Every face goes through the backbone (one call for the whole batch, `FaceEncoder`),
    giving a bag ``H = [h_1, ..., h_M]`` of embeddings per video, which one of these heads
    turns into the probability that the video is fake:

    - ``"s-mil"``: S-MIL (Eq. 9/10) on ``c = ReLU(Conv1D_{1, filters}(H))``, the paper's
      "S-MIL, k = 1" (the spatial branch of Eq. 11, so that S-MIL is S-MIL-T restricted to
      ``k = 1``).
    - ``"s-mil-t"``: spatial-temporal bags ``c^k`` for ``k`` in ``kernel_sizes`` (Eq. 11),
      each pooled by its own S-MIL into ``p_k``; the K bags form a super-bag pooled by S-MIL
      again, ``p = S-MIL(p_1, ..., p_K)`` (Eq. 12), with attention ``b_k`` computed from the
      bags' pooled embeddings ``sum_j a^k_j c^k_j``.
    - ``"mil"``: noisy-or MIL, ``p = 1 - prod_j (1 - p_j)`` (Eq. 4).
    - ``"att-mil"``: attention MIL of Ilse et al. (2018), gated with ``gated=True``.
    - ``"xn-avg"`` / ``"xn-max"``: a per-face classifier averaged / maxed over the faces
      (Eq. 2), the paper's frame-based XceptionNet baselines.
    - ``"lstm"``: an LSTM over the face sequence, then a sigmoid classifier on its state
      after the last real face.

    The graph is built in ``__init__`` (a functional subclass); ``get_config`` stores the
    backbone's architecture and these arguments, so ``.keras`` files reload without any
    weight download. Use `build_detector` to build one by backbone name.

    Args:
        backbone: a `keras.Model` mapping faces ``(N, S, S, 3)`` in [0, 255] to ``(N, D)``,
            e.g. from `build_backbone`.
        variant: one of `VARIANTS`.
        filters: int, filters ``r`` of each temporal convolution (Eq. 11; paper: 512).
            S-MIL variants only.
        kernel_sizes: tuple of ints, temporal kernel sizes of ``"s-mil-t"`` (default
            ``(1, 2, 3)``). ``"s-mil"`` always uses ``(1,)``.
        dropout: float, dropout rate on the face embeddings during training.
        attention_units: int, hidden size of the attention network (``"att-mil"``).
        gated: bool, gated attention (``"att-mil"``).
        lstm_units: int, LSTM size (``"lstm"``).
        **kwargs: passed to `keras.Model` (e.g. ``name``).

    Call arguments:
        inputs: dict with ``"faces"``, float ``(batch, M, S, S, 3)`` pixels in [0, 255],
            and ``"mask"``, bool ``(batch, M)``, True for real faces; ``M`` may change
            from batch to batch.

    Returns:
        Float ``(batch, 1)``, the probability that each video is fake.

    Masking: faces with ``mask`` False never change the output; a batch may mix bags of
    different sizes padded to the same ``M``. See `explain_model` for per-face scores and
    attention, and `frame_model` for single-face scores.

    Example:
    >>> detector = SMILDetector(build_backbone("tiny", image_size=32), variant="s-mil-t",
    ...                         filters=16)
    >>> faces = np.random.uniform(0, 255, (2, 6, 32, 32, 3)).astype("float32")
    >>> mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    >>> detector.predict({"faces": faces, "mask": mask}).shape
    (2, 1)
    """

    def __init__(
        self,
        backbone,
        variant="s-mil-t",
        filters=512,
        kernel_sizes=None,
        dropout=0.0,
        attention_units=128,
        gated=False,
        lstm_units=256,
        **kwargs,
    ):
        _check_variant(variant)
        if variant == "s-mil" and kernel_sizes not in (None, (1,), [1]):
            raise ValueError(
                f"'s-mil' is the k = 1 version; got kernel_sizes={kernel_sizes}. Use 's-mil-t'."
            )
        if kernel_sizes is None:
            kernel_sizes = (1, 2, 3) if variant == "s-mil-t" else (1,)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        image_size = backbone.input_shape[1]

        # === Graph ===
        faces = keras.Input((None, image_size, image_size, 3), name="faces")
        mask = keras.Input((None,), dtype="bool", name="mask")
        embeddings = FaceEncoder(backbone, name="face_encoder")(faces)
        if dropout:
            embeddings = keras.layers.Dropout(dropout, name="dropout")(embeddings)
        explanation = _head(
            variant, embeddings, mask, filters, kernel_sizes, attention_units, gated, lstm_units
        )
        kwargs.setdefault("name", f"{variant.replace('-', '_')}_detector")
        super().__init__(
            inputs={"faces": faces, "mask": mask},
            outputs=explanation["fake_probability"],
            **kwargs,
        )

        # === Config ===
        self.backbone = backbone
        self.variant = variant
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.dropout = dropout
        self.attention_units = attention_units
        self.gated = gated
        self.lstm_units = lstm_units
        # Per-face outputs on the same graph, read by `explain_model`.
        self._explanation_outputs = explanation

    @property
    def image_size(self):
        """Side ``S`` of the face crops the detector expects."""
        return self.backbone.input_shape[1]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "variant": self.variant,
            "filters": self.filters,
            "kernel_sizes": list(self.kernel_sizes),
            "dropout": self.dropout,
            "attention_units": self.attention_units,
            "gated": self.gated,
            "lstm_units": self.lstm_units,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def _head(variant, embeddings, mask, filters, kernel_sizes, attention_units, gated, lstm_units):
    """The multiple-instance head: ``{"fake_probability", "face_probability", "attention"}``."""
    if variant in ("s-mil", "s-mil-t"):
        bags = SpatialTemporalEncoder(kernel_sizes, filters, name="encoder")(embeddings, mask=mask)
        if variant == "s-mil":
            return _explained(SMILPooling(return_details=True, name="pooling")(bags[:, 0], mask=mask))
        return _super_bag(bags, mask, kernel_sizes)
    if variant == "lstm":
        return _lstm(embeddings, mask, lstm_units)
    if variant == "mil":
        pooling = NoisyOrMILPooling(return_details=True, name="pooling")
    elif variant == "att-mil":
        pooling = AttentionMILPooling(attention_units, gated=gated, return_details=True, name="pooling")
    else:
        mode = "mean" if variant == "xn-avg" else "max"
        pooling = ScorePooling(mode, return_details=True, name="pooling")
    return _explained(pooling(embeddings, mask=mask))


def _explained(details):
    return {
        "fake_probability": details["bag"],
        "face_probability": details["instance"],
        "attention": details["attention"],
    }


def _super_bag(bags, mask, kernel_sizes):
    """S-MIL-T (Eq. 12): S-MIL per kernel size, then S-MIL over the K bags.

    Per face ``j``: attention ``sum_k b_k a^k_j`` (sums to 1 over the real faces) and
    probability ``sigmoid(sum_k b_k logit(p^k_j))``, i.e. the super-bag's own rule applied to
    the face's instances in the K bags.
    """
    inner = [
        SMILPooling(return_details=True, name=f"pooling_k{k}")(bags[:, index], mask=mask)
        for index, k in enumerate(kernel_sizes)
    ]
    outer = SMILPooling(return_details=True, name="pooling")(
        ops.stack([details["embedding"] for details in inner], axis=1),
        instance_logits=ops.concatenate([details["logit"] for details in inner], axis=-1),
    )
    weights = ops.expand_dims(outer["attention"], -1)  # b_k, (batch, K, 1)
    attention = ops.sum(weights * ops.stack([d["attention"] for d in inner], axis=1), axis=1)
    instance = ops.clip(ops.stack([d["instance"] for d in inner], axis=1), _EPSILON, 1 - _EPSILON)
    face_logit = ops.sum(weights * (ops.log(instance) - ops.log1p(-instance)), axis=1)
    face_probability = ops.where(mask, ops.sigmoid(face_logit), ops.zeros_like(face_logit))
    return {
        "fake_probability": outer["bag"],
        "face_probability": face_probability,
        "attention": attention,
    }


def _lstm(embeddings, mask, units):
    """LSTM baseline. Its decision is read from the state after the last real face: that
    face gets attention 1; a face's probability is the classifier on the state after it
    (the running prediction up to that face)."""
    sequence, state, _ = keras.layers.LSTM(
        units, return_sequences=True, return_state=True, name="lstm"
    )(embeddings, mask=mask)
    classifier = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="classifier")
    steps = ops.squeeze(classifier(sequence), -1)
    positions = ops.cumsum(ops.ones_like(mask, dtype="int32"), axis=1) - 1  # 0, 1, ..., M - 1
    last = ops.max(ops.where(mask, positions, -1), axis=1, keepdims=True)
    attention = ops.cast(ops.equal(positions, last), "float32")
    return {
        "fake_probability": classifier(state),
        "face_probability": ops.where(mask, steps, ops.zeros_like(steps)),
        "attention": attention,
    }


def build_detector(variant="s-mil-t", backbone="xception", image_size=299, weights=None, **kwargs):
    """Builds a `SMILDetector` by variant and backbone name.

    Args:
        variant: one of `VARIANTS`: ``"s-mil"``, ``"s-mil-t"`` (the paper's best),
            ``"mil"``, ``"att-mil"``, ``"xn-avg"``, ``"xn-max"``, ``"lstm"``.
        backbone: backbone name for `build_backbone` (``"xception"``, any
            ``keras.applications`` network, or ``"tiny"``).
        image_size: int, side of the square face crops.
        weights: backbone weights: ``None``, ``"imagenet"`` or a weights file path (see
            `build_backbone`). Only used now: saved detectors reload their own weights.
        **kwargs: `SMILDetector` arguments (``filters``, ``kernel_sizes``, ``dropout``,
            ``attention_units``, ``gated``, ``lstm_units``, ``name``).

    Returns:
        A `SMILDetector`: ``{"faces": (B, M, S, S, 3), "mask": (B, M)}`` -> ``(B, 1)``.

    Example:
    >>> detector = build_detector("s-mil-t", backbone="xception", weights="imagenet")
    >>> detector.compile(keras.optimizers.Adam(2e-4), "binary_crossentropy")
    >>> small = build_detector("s-mil", backbone="tiny", image_size=32, filters=16)
    """
    _check_variant(variant)
    return SMILDetector(build_backbone(backbone, image_size, weights), variant=variant, **kwargs)
