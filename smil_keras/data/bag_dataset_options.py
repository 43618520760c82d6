"""Everything that shapes a bag dataset, in one object: what `make_bag_dataset` is built from."""

import dataclasses

import tensorflow as tf

from smil_keras.faces import FaceView

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class BagDatasetOptions:
    """The settings of one bag dataset, checked and with the view's values filled in.

    `make_bag_dataset` builds it from its keyword arguments (`BagDatasetOptions.resolve`), and
    every stage of the pipeline reads it: the records, the plan of each bag
    (`smil_keras.data.bag_plans.BagPlanner`), the decoding into the batch and the model
    inputs. The fields are `make_bag_dataset`'s arguments (see there) with the defaults
    applied: `image_size`, `margin` and, in training, `instances` are always set.

    Example:

    >>> options = BagDatasetOptions.resolve(training=True, batch_size=4,
    ...                                      view=FaceView(image_size=64))
    >>> options.image_size, options.margin, options.instances
    (64, 1.3, 8)
    """

    training: bool
    batch_size: int
    image_size: int
    margin: float
    instances: int | None = None
    face_labels: bool = False
    persons: bool = False
    shuffle_buffer: int = 256
    balance: bool = False
    cache: bool | str = False
    seed: int | None = None
    random_crop: bool = True
    flip: bool = True
    drop_remainder: bool = False
    num_parallel_calls: int = AUTOTUNE
    cycle_length: int = 8
    dtype: str = "uint8"

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.training and self.instances is None:
            raise ValueError("a training dataset needs a number of instances (faces per bag)")
        if self.instances is not None and self.instances < 1:
            raise ValueError(f"instances must be at least 1 or None, got {self.instances}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be at least 1, got {self.image_size}")
        if not self.margin > 0:
            raise ValueError(f"margin must be positive, got {self.margin}")
        if self.dtype not in ("float32", "uint8"):
            raise ValueError(f"dtype must be 'float32' or 'uint8', got {self.dtype!r}")
        if self.balance and not self.training:
            raise ValueError("balance=True is for training datasets only")

    @classmethod
    def resolve(
        cls, *, training, view=None, instances=None, image_size=None, margin=None, **options
    ):
        """The options of `make_bag_dataset`'s arguments: the view's values where none is given.

        Args:
            training: training or evaluation dataset.
            view: `smil_keras.faces.FaceView` (e.g. `model.view`), or None for the defaults
                (`FaceView()`).
            instances, image_size, margin: explicit values; with a view they must agree with
                it (evaluation may ask for any `instances`: its default is every face).
            **options: the other fields, as given.

        Raises:
            ViewMismatchError: an explicit value that differs from the view's.
            TypeError: a `view` that is not a `FaceView`.
        """
        if view is None:
            view = FaceView()  # today's defaults; explicit values take precedence over them
        elif isinstance(view, FaceView):
            view.check(
                image_size=image_size, margin=margin, instances=instances if training else None
            )
        else:
            raise TypeError(f"view must be a smil_keras.faces.FaceView, got {type(view).__name__}")
        if training and instances is None:
            instances = view.instances  # evaluation: every face unless `instances` is given
        return cls(
            training=training,
            image_size=view.image_size if image_size is None else image_size,
            margin=view.margin if margin is None else margin,
            instances=instances,
            **options,
        )

    @property
    def deterministic(self):
        """Whether the batches come in a reproducible order (evaluation, or a seed)."""
        return not self.training or self.seed is not None
