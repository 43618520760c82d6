"""Applies a backbone to every face of every bag in one call."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="smil_keras")
class FaceEncoder(keras.layers.Layer):
    """Embeds each face of a batch of bags with one backbone call.

    The bags ``(batch, M, S, S, 3)`` are reshaped to one batch of ``batch * M`` faces, run
    through the backbone once, and reshaped back to ``(batch, M, D)``; ``M`` may differ
    from call to call.

    Args:
        backbone: a `keras.Model` mapping ``(N, S, S, 3)`` to ``(N, D)`` (see
            `build_backbone`).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor ``(batch, M, S, S, 3)``, pixels in [0, 255].
        mask: optional bool tensor ``(batch, M)``, True for real faces.
        training: forwarded to the backbone.

    Returns:
        Float tensor ``(batch, M, D)``.

    Masking: with ``mask``, each padded face is replaced by the first real face of its bag
    before the backbone sees it, so a backbone with batch normalization computes its training
    statistics over real faces only (that first face counts once more per padded slot; zero
    padding would shift them by an amount that changes from batch to batch, and the moving
    statistics used in evaluation with them). The embeddings of padded faces are returned but
    mean nothing: every pooling ignores them through its mask.

    Example:
    >>> import numpy as np
    >>> from smil_keras.models import build_backbone
    >>> encoder = FaceEncoder(build_backbone("tiny", image_size=32))
    >>> faces = np.zeros((2, 5, 32, 32, 3), "float32")
    >>> keras.ops.shape(encoder(faces, mask=np.array([[True] * 5, [True] * 3 + [False] * 2])))
    (2, 5, 64)
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone

    def build(self, inputs_shape, mask_shape=None):
        self.backbone.build(tuple(inputs_shape[:1]) + tuple(inputs_shape[2:]))

    def call(self, inputs, mask=None, training=None):
        if mask is not None:
            inputs = _fill_padding(inputs, mask)
        shape = ops.shape(inputs)
        faces = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        embeddings = self.backbone(faces, training=training)
        return ops.reshape(embeddings, (shape[0], shape[1], embeddings.shape[-1]))

    def compute_output_shape(self, inputs_shape, mask_shape=None):
        return (inputs_shape[0], inputs_shape[1], self.backbone.output_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def _fill_padding(faces, mask):
    """``faces`` ``(B, M, S, S, 3)`` with every slot where ``mask`` is False holding the first
    real face of its bag (the first slot when a bag has none)."""
    mask = ops.cast(mask, "bool")
    first = ops.argmax(ops.cast(mask, "int32"), axis=1)  # first True (0 if none)
    first_face = ops.take_along_axis(faces, ops.reshape(first, (-1, 1, 1, 1, 1)), axis=1)
    return ops.where(ops.reshape(mask, (*ops.shape(mask), 1, 1, 1)), faces, first_face)
