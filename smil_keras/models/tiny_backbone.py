"""A small CNN backbone for tests and CPU demos."""

import keras


@keras.saving.register_keras_serializable(package="smil_keras")
class TinyBackbone(keras.Model):
    """A few strided convolution blocks and global average pooling: faces to embeddings.

    Stands in for Xception where a real backbone is too slow (unit tests, CPU demos). With
    the default ``filters=(16, 32, 64)`` it has about 23k parameters. Like the
    ``keras.applications`` backbones built by `build_backbone`, it takes raw pixels in
    [0, 255] and scales them to [-1, 1] itself (Xception's ``preprocess_input``).

    Args:
        image_size: int, side of the square face crops.
        filters: sequence of ints, filters of each block (3x3 stride-2 convolution, batch
            normalization, ReLU). The embedding size is ``filters[-1]``. Batch normalization
            keeps the embeddings of different faces apart from the first steps on; without it
            (and with group or layer normalization instead) this small network did not learn
            the demo's data at all. Its evaluation mode needs statistics that match the
            weights: `smil_keras.training.train` recomputes them after every epoch
            (`RecomputeBatchStatistics`; give it to your own `fit` too), else a few hundred
            steps can leave evaluation calling every video fake.
        **kwargs: passed to `keras.Model` (e.g. ``name``).

    Call arguments:
        inputs: float tensor ``(N, image_size, image_size, 3)``, pixels in [0, 255].

    Returns:
        Float tensor ``(N, filters[-1])``.

    Example:
    >>> import numpy as np
    >>> backbone = TinyBackbone(image_size=32)
    >>> backbone.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape
    (2, 64)
    """

    def __init__(self, image_size=64, filters=(16, 32, 64), **kwargs):
        images = keras.Input((image_size, image_size, 3), name="images")
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(images)
        for index, num_filters in enumerate(filters):
            x = keras.layers.Conv2D(
                num_filters, 3, strides=2, padding="same", use_bias=False, name=f"conv{index + 1}"
            )(x)
            # Momentum 0.9: moving statistics that follow the weights closely between the
            # recomputations (`RecomputeBatchStatistics`).
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{index + 1}")(x)
            x = keras.layers.ReLU(name=f"relu{index + 1}")(x)
        embeddings = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        kwargs.setdefault("name", "tiny_backbone")
        super().__init__(inputs=images, outputs=embeddings, **kwargs)
        self.image_size = image_size
        self.filters = tuple(filters)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_size": self.image_size,
            "filters": list(self.filters),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
