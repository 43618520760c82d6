"""What `make_partial_attack_dataset` wrote."""

import dataclasses

from smil_keras.datasets.video_entry import VideoEntry


@dataclasses.dataclass
class PartialAttackDataset:
    """The videos, label files and bag shards of a synthetic partial-attack dataset.

    Attributes:
        root: the output folder.
        entries: one `VideoEntry` per written video (`dataset="synthetic"`).
        shards: the bag shard files (`root/bags/*.tfrecord`), empty when faces were not extracted.

    Example:

    >>> data = make_partial_attack_dataset("demo_data")
    >>> dataset = make_bag_dataset(data.shards, training=True, batch_size=4)
    """

    root: str
    entries: list[VideoEntry]
    shards: list[str]

    @property
    def videos_csv(self):
        """`root/videos.csv`: `video`, `label`, `method`, `fake_frames`, `source`,
        `forged_people`."""
        return f"{self.root}/videos.csv"

    @property
    def faces_csv(self):
        """`root/faces.csv`: one row per face of every frame, with its box and label."""
        return f"{self.root}/faces.csv"
