"""The linear instance classifier `logit_j = W h_j + b` shared by the MIL poolings (private)."""

from keras import ops


def embedding_size(layer, inputs_shape):
    """The known last dimension `D` of `inputs_shape`, or a `ValueError` naming the layer."""
    dim = inputs_shape[-1]
    if dim is None:
        raise ValueError(
            f"{type(layer).__name__} needs a known embedding size, got shape {inputs_shape}"
        )
    return dim


def add_classifier(layer, dim):
    """Creates `layer.classifier_kernel` `(D, 1)` and `layer.classifier_bias` `(1,)` (float32)."""
    layer.classifier_kernel = layer.add_weight(
        shape=(dim, 1), initializer="glorot_uniform", name="classifier_kernel", autocast=False
    )
    layer.classifier_bias = layer.add_weight(
        shape=(1,), initializer="zeros", name="classifier_bias", autocast=False
    )


def classifier_logits(layer, h):
    """Instance logits `(batch, M)` of embeddings `h` `(batch, M, D)`: `W h_j + b`."""
    return ops.squeeze(ops.matmul(h, layer.classifier_kernel), -1) + layer.classifier_bias
