"""How a detector sees a face: the data contract that travels with a trained model."""

import dataclasses

from smil_keras.errors import ViewMismatchError

DEFAULT_MARGIN = 1.3
DEFAULT_INSTANCES = 8


@dataclasses.dataclass(frozen=True)
class FaceView:
    """The view of a face a detector was trained on, saved with it.

    A detector only gives the numbers it was validated with when it is fed faces cut the way it
    was trained: `make_bag_dataset(..., view=model.view)`, `score_bags`, `smil evaluate`,
    `smil predict` and `smil export` read the view from the model, so there is no argument to
    get wrong. The view is part of `SMILDetector.get_config()` (so of every `.keras` file) and
    of the exported SavedModel's metadata (`read_view`). `.keras` detectors saved before it
    existed load with `FaceView(image_size=<their input size>)`, i.e. today's defaults; a
    SavedModel exported before it is refused by `read_view`, which says how to export it again.

    Args:
        image_size: side `S` in pixels of the square faces the model takes (`(B, M, S, S, 3)`).
        margin: the face crop's side relative to the face box's longer side (`crop_face`;
            1.3, as FaceForensics++ cuts faces).
        instances: faces drawn per bag in each training epoch (the paper: 8 of 20). Evaluation
            and prediction use every face of a bag.
        preprocessing: the backbone's own pixel preprocessing, which runs *inside* the model
            (`"xception"`: [0, 255] to [-1, 1]; `"tiny"`: a rescaling): callers always feed
            RGB pixels in [0, 255], uint8 or float.

    Example:

    >>> view = FaceView(image_size=64, margin=1.3)
    >>> view.check(margin=1.3, image_size=None)  # agreeing or unset values pass
    >>> FaceView.from_config(view.get_config()) == view
    True
    """

    image_size: int = 299
    margin: float = DEFAULT_MARGIN
    instances: int = DEFAULT_INSTANCES
    preprocessing: str = "xception"

    def __post_init__(self):
        if (
            not isinstance(self.image_size, int)
            or isinstance(self.image_size, bool)
            or self.image_size < 1
        ):
            raise ValueError(f"image_size must be a positive int, got {self.image_size!r}")
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, (int, float))
            or not self.margin > 0
        ):
            raise ValueError(f"margin must be a positive number, got {self.margin!r}")
        object.__setattr__(self, "margin", float(self.margin))
        if (
            not isinstance(self.instances, int)
            or isinstance(self.instances, bool)
            or self.instances < 1
        ):
            raise ValueError(f"instances must be a positive int, got {self.instances!r}")
        if not isinstance(self.preprocessing, str) or not self.preprocessing:
            raise ValueError(
                f"preprocessing must be a backbone's preprocessing name, got {self.preprocessing!r}"
            )

    def check(self, **given):
        """Raises `ViewMismatchError` for any given value (not `None`) that differs from the
        view's field of that name."""
        for name, value in given.items():
            if value is not None and value != getattr(self, name):
                raise ViewMismatchError(name, getattr(self, name), value)

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
