"""One video of a dataset, as the readers return it."""

import dataclasses


@dataclasses.dataclass
class VideoEntry:
    """A video file of a DeepFake dataset with its labels.

    Args:
        path: path of the video file.
        label: 0 real, 1 fake.
        method: manipulation method (`"Deepfakes"`, `"method_A"`, ...), `""` for real videos.
        split: `"train"`, `"val"`, `"test"`, or `""` when the dataset does not say.
        original: path of the real video a fake was made from, `None` when unknown or real.
        dataset: name of the dataset (`"ffpp"`, `"dfdc"`, `"celebdf-v2"`, ...).
        video_id: identifier unique within the dataset (e.g. `"Deepfakes/519_515"`).

    Example:

    >>> VideoEntry("519_515.mp4", 1, "Deepfakes", "test", "519.mp4", "ffpp", "Deepfakes/519_515")
    """

    path: str
    label: int
    method: str = ""
    split: str = ""
    original: str | None = None
    dataset: str = ""
    video_id: str = ""
