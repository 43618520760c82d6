"""Per-face scores and attention of a detector, for `smil predict` and the SavedModel export."""

import keras

from smil_keras.models.smil_detector import SMILDetector


def explain_model(detector):
    """A model sharing ``detector``'s layers that also returns per-face (and per-person) outputs.

    Inputs are the detector's: ``{"faces", "mask"}``, optionally with ``"person_ids"`` (int
    ``(B, M)``, per-bag person indices ``0 .. P - 1``, -1 on padding). Outputs a dict:

    - ``"fake_probability"`` ``(B, 1)``: the detector's output.
    - ``"face_probability"`` ``(B, M)``: each face's fake probability, the instance scores
      ``p_j`` of the pooling (Eq. 9). For ``"s-mil-t"``: ``sigmoid(sum_k b_k
      logit(p^k_j))``, the super-bag's rule (Eq. 12) applied to the face's instances in the
      K temporal bags. For ``"lstm"``: the classifier on the LSTM state after face ``j``
      (the running prediction up to that face).
    - ``"attention"`` ``(B, M)``: each face's weight in the decision, summing to 1 over the
      real faces: ``a_j`` (S-MIL, attention MIL), ``sum_k b_k a^k_j`` (S-MIL-T), ``1 / n``
      (noisy-or MIL, XN-avg), 1 on the top face (XN-max), 1 on the last real face (LSTM,
      whose decision is read from the state after it).

    Only when ``"person_ids"`` are given (not None), also:

    - ``"person_probability"`` ``(B, P)`` with ``P = M``: each person's fake probability,
      the detector's head applied to the sub-bag of that person's faces with the trained
      layers, i.e. what the detector says about a video showing that person alone. S-MIL:
      ``sigmoid(sum_{j in person} a'_j logit(p_j))`` with ``a'`` the attention re-normalised
      over the person's faces; S-MIL-T: each kernel's S-MIL over the person's faces, then
      the super-bag; the baselines: their pooling over the person's faces (noisy-or, mean,
      max, attention MIL; the LSTM run over the person's faces alone). 0 for a person index
      nobody has (column ``p`` is person id ``p``).
    - ``"person_mask"`` bool ``(B, P)``: True for the people the bag shows (at least one
      real face).

    With ``"person_ids"`` the three first outputs are those of the detector given them
    (S-MIL-T's temporal convolutions stay within each person). Masked faces get 0 in the
    per-face outputs. Works on detectors loaded from ``.keras``. The outputs are the
    detector's `SMILDetector.explanation_outputs` and `SMILDetector.person_outputs`.

    Args:
        detector: a `SMILDetector` (from `build_detector` or ``keras.saving.load_model``).

    Returns:
        A `keras.Model`.

    Example:
    >>> import numpy as np
    >>> from smil_keras.models import build_detector
    >>> detector = build_detector("s-mil-t", backbone="tiny", image_size=32, filters=8)
    >>> explainer = explain_model(detector)
    >>> faces = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
    >>> mask = np.array([[True] * 4, [True] * 3 + [False]])
    >>> outputs = explainer.predict({"faces": faces, "mask": mask}, verbose=0)
    >>> outputs["attention"].sum(axis=1).round(4)  # over each video's real faces
    array([1., 1.], dtype=float32)
    >>> person_ids = np.array([[0, 0, 1, 1], [0, 1, 0, -1]], "int32")
    >>> people = explainer({"faces": faces, "mask": mask, "person_ids": person_ids})
    >>> keras.ops.convert_to_numpy(people["person_mask"])  # two people in each video
    array([[ True,  True, False, False],
           [ True,  True, False, False]])
    """
    if not isinstance(detector, SMILDetector):
        raise TypeError(
            "explain_model needs a SMILDetector (from build_detector), "
            f"got {type(detector).__name__}."
        )
    return DetectorExplainer(detector, name=f"{detector.name}_explainer")


class DetectorExplainer(keras.Model):
    """The model `explain_model` returns: ``{"faces", "mask"}`` -> the three per-face outputs,
    and with ``"person_ids"`` also the per-person ones.

    Two functional graphs on the detector's layers, one per input set, because a Keras
    functional model needs a value for each of its inputs: without ``"person_ids"``,
    ``keras.Model(detector.input, detector.explanation_outputs)``; with them,
    ``keras.Model(detector.person_inputs, detector.person_outputs)``. Not meant to be saved:
    save the detector.

    Args:
        detector: a `SMILDetector`.
        **kwargs: passed to `keras.Model` (e.g. ``name``).
    """

    def __init__(self, detector, **kwargs):
        super().__init__(**kwargs)
        self.faces = keras.Model(detector.input, detector.explanation_outputs)
        self.persons = keras.Model(detector.person_inputs, detector.person_outputs)
        self.built = True

    def call(self, inputs, training=None):
        if inputs.get("person_ids") is None:
            return self.faces({name: inputs[name] for name in ("faces", "mask")}, training=training)
        inputs = {name: inputs[name] for name in ("faces", "mask", "person_ids")}
        return self.persons(inputs, training=training)
