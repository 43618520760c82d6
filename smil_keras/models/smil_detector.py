"""The video-level DeepFake detector: a backbone per face, then a multiple-instance head."""

import dataclasses
import logging

import keras

from smil_keras.faces.face_view import DEFAULT_INSTANCES, DEFAULT_MARGIN, FaceView
from smil_keras.models.backbone import backbone_preprocessing, build_backbone
from smil_keras.models.detector_heads import HEADS, VARIANTS, check_variant
from smil_keras.models.face_encoder import FaceEncoder

__all__ = ["VARIANTS", "SMILDetector", "build_detector"]

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 299


@keras.saving.register_keras_serializable(package="smil_keras")
class SMILDetector(keras.Model):
    """Video-level fake probability from a bag of face crops (S-MIL, Li et al. 2020).

    Every face goes through the backbone (one call for the whole batch, `FaceEncoder`),
    giving a bag ``H = [h_1, ..., h_M]`` of embeddings per video, which the variant's head
    (`HEADS`, in `smil_keras.models.detector_heads`) turns into the probability that the
    video is fake: ``"s-mil"`` and ``"s-mil-t"`` (the paper's, Eq. 9-12), ``"mil"``
    (noisy-or, Eq. 4), ``"att-mil"`` (Ilse et al. 2018), ``"xn-avg"`` / ``"xn-max"``
    (frame-based XceptionNet, Eq. 2), ``"lstm"``.

    The detector carries its `FaceView` (``detector.view``): the face size, margin, faces
    per training bag and pixel preprocessing it is trained on, saved in its config, so that
    data, evaluation, prediction and export read it from the model.

    The head computes in the backbone's dtype (its temporal convolutions and LSTM run in
    bfloat16 under ``mixed_bfloat16`` when the backbone does); the poolings and classifiers
    compute in float32 by design, so the outputs are float32.

    The graph is built in ``__init__`` (a functional subclass); ``get_config`` stores the
    backbone's architecture and these arguments, so ``.keras`` files reload without any
    weight download. Use `build_detector` to build one by backbone name.

    Args:
        backbone: a `keras.Model` mapping faces ``(N, S, S, 3)`` in [0, 255] to ``(N, D)``,
            e.g. from `build_backbone`.
        variant: one of `VARIANTS` (the keys of `HEADS`).
        filters: int, filters ``r`` of each temporal convolution (Eq. 11; paper: 512).
            S-MIL variants only.
        kernel_sizes: tuple of ints, temporal kernel sizes of ``"s-mil-t"`` (default
            ``(1, 2, 3)``). ``"s-mil"`` always uses ``(1,)``.
        dropout: float, dropout rate on the face embeddings during training.
        attention_units: int, hidden size of the attention network (``"att-mil"``).
        gated: bool, gated attention (``"att-mil"``).
        lstm_units: int, LSTM size (``"lstm"``).
        view: a `FaceView` (or its config dict), or ``None`` for
            ``FaceView(image_size=<backbone input size>, preprocessing=<backbone's>)``
            (margin 1.3, 8 faces per training bag; detectors saved before the view existed
            load with these). Its ``image_size`` and ``preprocessing`` must be the
            backbone's.
        **kwargs: passed to `keras.Model` (e.g. ``name``).

    Call arguments:
        inputs: dict with ``"faces"``, float ``(batch, M, S, S, 3)`` pixels in [0, 255],
            and ``"mask"``, bool ``(batch, M)``, True for real faces (or 0/1 numbers, cast
            to bool at the input: `train` feeds uint8 under a ``tf.distribute`` strategy,
            which cannot sum bools); ``M`` may change from batch to batch. Optionally
            ``"person_ids"``, int ``(batch, M)``: the person each face shows, per-bag
            indices ``0 .. P - 1`` (``P <= M``), -1 on padding.

    Returns:
        Float ``(batch, 1)``, the probability that each video is fake.

    People: with ``"person_ids"`` the temporal convolutions of S-MIL-T never mix two people
    (a face's neighbours are its own person's previous and next faces, see
    `SpatialTemporalEncoder`); the other variants give the same output with or without
    them, and so does a one-person bag (all ids 0) for every variant. Bags are usually
    ordered person by person, time order within a person. Without ``"person_ids"`` the
    detector is exactly the graph of detectors built before people existed, and ``.keras``
    files saved then load unchanged (people add no weights). `person_outputs` /
    `explain_model` give each person's own fake probability.

    Masking: faces with ``mask`` False never change the output; a batch may mix bags of
    different sizes padded to the same ``M``. See `explanation_outputs` / `explain_model`
    for per-face scores and attention, and `frame_model` for single-face scores.

    Example:
    >>> import numpy as np
    >>> detector = SMILDetector(build_backbone("tiny", image_size=32), variant="s-mil-t",
    ...                         filters=16)
    >>> detector.view
    FaceView(image_size=32, margin=1.3, instances=8, preprocessing='tiny')
    >>> faces = np.random.uniform(0, 255, (2, 6, 32, 32, 3)).astype("float32")
    >>> mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    >>> detector.predict({"faces": faces, "mask": mask}, verbose=0).shape
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
        view=None,
        **kwargs,
    ):
        check_variant(variant)
        if variant == "s-mil" and kernel_sizes not in (None, (1,), [1]):
            raise ValueError(
                f"'s-mil' is the k = 1 version; got kernel_sizes={kernel_sizes}. Use 's-mil-t'."
            )
        if kernel_sizes is None:
            kernel_sizes = (1, 2, 3) if variant == "s-mil-t" else (1,)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        view = _backbone_view(backbone, view)
        # The head computes in the backbone's compute dtype (its embeddings' dtype).
        policy = _policy_of(backbone)

        # === Graph ===
        faces = keras.Input((None, view.image_size, view.image_size, 3), name="faces")
        mask = keras.Input((None,), dtype="bool", name="mask")
        person_ids = keras.Input((None,), dtype="int32", name="person_ids")
        embeddings = FaceEncoder(backbone, dtype=policy, name="face_encoder")(faces, mask=mask)
        if dropout:
            embeddings = keras.layers.Dropout(dropout, dtype=policy, name="dropout")(embeddings)
        explanation = HEADS[variant](
            embeddings,
            mask,
            person_ids,
            filters=filters,
            kernel_sizes=kernel_sizes,
            attention_units=attention_units,
            gated=gated,
            lstm_units=lstm_units,
            dtype=policy,
        )
        persons = explanation.pop("persons")  # the same layers, knowing who is who
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
        self.view = view
        self._explanation = dict(explanation)
        self._persons = _PersonGraph(
            {"faces": faces, "mask": mask, "person_ids": person_ids}, persons
        )

    @property
    def image_size(self):
        """Side ``S`` of the face crops the detector expects (``view.image_size``)."""
        return self.view.image_size

    @property
    def explanation_outputs(self):
        """The per-face outputs of the detector's graph, a dict of symbolic tensors.

        - ``"fake_probability"`` ``(B, 1)``: the detector's output.
        - ``"face_probability"`` ``(B, M)``: each face's fake probability, 0 on padding.
        - ``"attention"`` ``(B, M)``: each face's weight in the decision, summing to 1 over
          the real faces, 0 on padding.

        ``keras.Model(detector.input, detector.explanation_outputs)`` shares the detector's
        layers; `explain_model` builds exactly that and documents each variant's meaning.
        """
        return dict(self._explanation)

    @property
    def person_inputs(self):
        """The inputs of the detector's graph with people: ``{"faces", "mask",
        "person_ids"}``, symbolic tensors (`person_outputs` are computed from them)."""
        return dict(self._persons.inputs)

    @property
    def person_outputs(self):
        """The outputs of the detector's graph with people, a dict of symbolic tensors.

        - ``"fake_probability"``, ``"face_probability"``, ``"attention"``: as
          `explanation_outputs`, for bags given ``"person_ids"`` (S-MIL-T's convolutions
          within each person).
        - ``"person_probability"`` ``(B, P)``, ``P = M``: each person's fake probability, the
          detector's head on the sub-bag of that person's faces (what it says about a video
          showing that person alone); 0 for a person index nobody has.
        - ``"person_mask"`` bool ``(B, P)``: True for the people each bag shows.

        ``keras.Model(detector.person_inputs, detector.person_outputs)`` shares the
        detector's layers; `explain_model` uses it when given ``"person_ids"``.
        """
        return dict(self._persons.outputs)

    def call(self, inputs, training=None, mask=None):
        # "person_ids" is optional: without it (or None), the detector's own graph, which
        # has only "faces" and "mask" (a Keras functional model needs every one of its
        # inputs); with it, the graph with people, sharing every layer.
        person_ids = inputs.get("person_ids") if isinstance(inputs, dict) else None
        if person_ids is None:
            if isinstance(inputs, dict):
                inputs = {name: inputs[name] for name in ("faces", "mask")}
            return super().call(inputs, training=training, mask=mask)
        inputs = {name: inputs[name] for name in ("faces", "mask", "person_ids")}
        return self._persons.model(inputs, training=training)

    def compute_output_spec(self, inputs, training=None, mask=None):
        if isinstance(inputs, dict):  # the same output with or without "person_ids"
            inputs = {name: inputs[name] for name in ("faces", "mask")}
        return super().compute_output_spec(inputs, training=training, mask=mask)

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
            "view": self.view.get_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        detector = cls(**config)  # "view": a dict, or absent (saved before the view): the default
        if "view" not in config:
            logger.warning(
                "detector %r was saved before detectors carried their view: it gets the default "
                "%s; if it was trained with another margin, set detector.view "
                "(dataclasses.replace(detector.view, margin=...)) and save it again",
                detector.name,
                detector.view,
            )
        return detector


class _PersonGraph:
    """The detector's graph with ``"person_ids"``: its symbolic inputs and outputs, and the
    model of its fake probability that `SMILDetector.call` runs. A plain object, so that
    Keras neither tracks nor saves the model: it only reuses the detector's layers."""

    def __init__(self, inputs, outputs):
        self.inputs = inputs
        self.outputs = outputs
        self.model = keras.Model(inputs, outputs["fake_probability"], name="with_person_ids")


def _backbone_view(backbone, view):
    """``view`` as a `FaceView` checked against ``backbone``, or the backbone's default view."""
    image_size = backbone.input_shape[1]
    preprocessing = backbone_preprocessing(backbone)
    if view is None:
        return FaceView(image_size=image_size, preprocessing=preprocessing)
    if isinstance(view, dict):
        view = FaceView.from_config(view)
    if not isinstance(view, FaceView):
        raise TypeError(f"view must be a FaceView, its config dict or None, got {view!r}")
    for field, value in (("image_size", image_size), ("preprocessing", preprocessing)):
        if getattr(view, field) != value:
            raise ValueError(
                f"view.{field}={getattr(view, field)!r}, but the backbone {backbone.name!r} "
                f"has {field}={value!r}; a detector's view must describe its backbone"
            )
    return view


def _policy_of(backbone):
    """The dtype policy of a head on ``backbone``: mixed with the backbone's compute dtype
    when its embeddings are bfloat16 or float16, else float32."""
    dtype = keras.backend.standardize_dtype(backbone.output.dtype)
    return f"mixed_{dtype}" if dtype in ("bfloat16", "float16") else "float32"


def build_detector(
    variant="s-mil-t",
    backbone="xception",
    image_size=None,
    weights=None,
    *,
    margin=None,
    instances=None,
    view=None,
    **kwargs,
):
    """Builds a `SMILDetector` by variant and backbone name, with the view it will be trained on.

    Args:
        variant: one of `VARIANTS` (the keys of `HEADS`): ``"s-mil"``, ``"s-mil-t"`` (the
            paper's best), ``"mil"``, ``"att-mil"``, ``"xn-avg"``, ``"xn-max"``, ``"lstm"``.
        backbone: backbone name for `build_backbone` (``"xception"``, any
            ``keras.applications`` network, or ``"tiny"``).
        image_size: int, side of the square face crops (default 299, or ``view``'s).
        weights: backbone weights: ``None``, ``"imagenet"`` or a weights file path (see
            `build_backbone`). Only used now: saved detectors reload their own weights.
        margin: float, the face crops' field of view (`crop_face`'s margin; default 1.3).
        instances: int, faces drawn per bag in each training epoch (default 8, the paper's).
        view: a `FaceView` instead of ``image_size``, ``margin`` and ``instances`` (e.g.
            another detector's ``view``); a value given both ways must agree. Its
            ``preprocessing`` must be the backbone's.
        **kwargs: `SMILDetector` arguments (``filters``, ``kernel_sizes``, ``dropout``,
            ``attention_units``, ``gated``, ``lstm_units``, ``name``).

    Returns:
        A `SMILDetector`: ``{"faces": (B, M, S, S, 3), "mask": (B, M)}`` -> ``(B, 1)``,
        with ``detector.view`` the view built from these arguments.

    Raises:
        ValueError: an unknown variant or backbone, or an argument that contradicts ``view``.

    Example:
    >>> detector = build_detector("s-mil-t", weights="imagenet")  # doctest: +SKIP
    >>> detector.compile(keras.optimizers.Adam(2e-4), "binary_crossentropy")  # doctest: +SKIP
    >>> small = build_detector("s-mil", backbone="tiny", image_size=32, filters=16, margin=1.5)
    >>> small.view
    FaceView(image_size=32, margin=1.5, instances=8, preprocessing='tiny')
    """
    check_variant(variant)
    if view is None:  # checked before the backbone is built
        view = FaceView(
            image_size=DEFAULT_IMAGE_SIZE if image_size is None else image_size,
            margin=DEFAULT_MARGIN if margin is None else margin,
            instances=DEFAULT_INSTANCES if instances is None else instances,
        )
        backbone_model = build_backbone(backbone, view.image_size, weights)
        view = dataclasses.replace(view, preprocessing=backbone_preprocessing(backbone_model))
    else:
        view = view if isinstance(view, FaceView) else FaceView.from_config(view)
        given = {"image_size": image_size, "margin": margin, "instances": instances}
        for field, value in given.items():
            if value is not None and value != getattr(view, field):
                raise ValueError(
                    f"build_detector: {field}={value!r} contradicts view.{field}="
                    f"{getattr(view, field)!r}; give one of them"
                )
        backbone_model = build_backbone(backbone, view.image_size, weights)
    return SMILDetector(backbone_model, variant=variant, view=view, **kwargs)
