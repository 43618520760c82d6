"""Per-face scores and attention of a detector, for `smil predict` and the SavedModel export."""

import keras

from smil_keras.models.smil_detector import SMILDetector


def explain_model(detector):
    """A model sharing ``detector``'s layers that also returns per-face outputs.

    Inputs are the detector's (``{"faces", "mask"}``); outputs a dict:

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

    Masked faces get 0 in both per-face outputs. Works on detectors loaded from ``.keras``.
    The outputs are the detector's `SMILDetector.explanation_outputs`.

    Args:
        detector: a `SMILDetector` (from `build_detector` or ``keras.saving.load_model``).

    Returns:
        A `keras.Model`.

    Example:
    >>> explainer = explain_model(keras.saving.load_model("detector.keras"))
    >>> outputs = explainer.predict({"faces": faces, "mask": mask})
    >>> outputs["attention"].argmax(axis=1)  # the most influential face of each video
    """
    if not isinstance(detector, SMILDetector):
        raise TypeError(
            "explain_model needs a SMILDetector (from build_detector), "
            f"got {type(detector).__name__}."
        )
    return keras.Model(
        detector.input, detector.explanation_outputs, name=f"{detector.name}_explainer"
    )
