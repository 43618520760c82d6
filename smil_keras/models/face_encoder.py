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
        training: forwarded to the backbone.

    Returns:
        Float tensor ``(batch, M, D)``.

    Masking: none here. Padded faces are embedded like the others (they cost compute
    but no accuracy: every pooling ignores them through its mask). With a backbone that has
    batch normalisation, in training mode padded faces do enter the batch statistics.

    Example:
    >>> encoder = FaceEncoder(build_backbone("tiny", image_size=32))
    >>> keras.ops.shape(encoder(np.zeros((2, 5, 32, 32, 3), "float32")))
    (2, 5, 64)
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone

    def build(self, inputs_shape):
        self.backbone.build(tuple(inputs_shape[:1]) + tuple(inputs_shape[2:]))

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        faces = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        embeddings = self.backbone(faces, training=training)
        return ops.reshape(embeddings, (shape[0], shape[1], embeddings.shape[-1]))

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[1], self.backbone.output_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
