"""tf.data pipelines: bag shards -> `({"faces", "mask"}, label)` batches for `model.fit`."""

from smil_keras.data.make_bag_dataset import make_bag_dataset

__all__ = ["make_bag_dataset"]
