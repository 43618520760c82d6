"""The on-disk format of bags: one `tf.train.Example` per video in sharded TFRecord files.

A *bag* is the faces found in the frames sampled from one video (S-MIL, sec. 3: the video is the
bag, its faces are the instances). Shards are uncompressed TFRecord files named
`{prefix}-{index:05d}.tfrecord`; each record is a `tf.train.Example` with these features
(`n` = number of faces in the bag, `n >= 1`; strings are UTF-8 bytes):

| feature          | type       | len | meaning                                                  |
|------------------|------------|-----|----------------------------------------------------------|
| `schema_version` | int64      | 1   | format version, currently `1`                            |
| `video_id`       | string     | 1   | the video's identifier, unique within its dataset        |
| `video`          | string     | 1   | path of the source video file                            |
| `dataset`        | string     | 1   | dataset name (`"ffpp"`, `"dfdc"`, ...), `""` if unknown  |
| `method`         | string     | 1   | manipulation (`"Deepfakes"`, ...), `""` if none/unknown  |
| `label`          | int64      | 1   | video label: 0 real, 1 fake, -1 unknown                  |
| `num_faces`      | int64      | 1   | `n`                                                      |
| `image_size`     | int64      | 1   | side `S` of every (square) face crop, in pixels          |
| `margin`         | float      | 1   | crop side / face box's longer side (optional: 1.3)       |
| `faces`          | bytes list | n   | JPEG-encoded RGB face crops `(S, S, 3)`, in frame order  |
| `frame_indices`  | int64 list | n   | 0-based index in the video of each face's frame          |
| `boxes`          | int64 list | 4 n | face boxes `(x, y, w, h)` in frame pixels, row after row |
| `confidences`    | float list | n   | detector confidence of each face                         |
| `track_ids`      | int64 list | n   | track (person) id of each face, -1 if not tracked        |
| `face_labels`    | int64 list | n   | per-face label: 0 real, 1 fake, -1 unknown               |

`margin` says how much context around the face the crops hold (`crop_face`). `smil extract` stores
crops with more context than the model sees (`stored_crop`), so that `make_bag_dataset` cuts the
model's view out of them without resizing: a random window in training, the centre window in
evaluation. Records written before the field existed read as 1.3 (the FaceForensics++ margin).

Records are serialised deterministically (`BagRecord.serialize`): the same bags give
byte-identical shards, whichever process, run or extraction engine writes them.

Several faces may share a frame index (several people in one frame); faces are sorted by frame
index, and by detection order within a frame. `BagRecord` is the Python view of one record,
`read_bags` reads and validates shards in Python, `parse_bag_example` parses one record in a
`tf.data` pipeline.
"""

import tensorflow as tf

SCHEMA_VERSION = 1

SHARD_SUFFIX = ".tfrecord"

# Features holding one value per bag, and their types.
BAG_INT_FEATURES = ("schema_version", "label", "num_faces", "image_size")
BAG_STRING_FEATURES = ("video_id", "video", "dataset", "method")
# Features holding one value (four for `boxes`) per face.
FACE_INT_FEATURES = ("frame_indices", "track_ids", "face_labels")

DEFAULT_MARGIN = 1.3  # the `margin` of records that do not store one

_MISSING = -999  # default value that tells a missing scalar apart in `parse_bag_example`


def _feature_spec():
    spec = {name: tf.io.FixedLenFeature([], tf.int64, _MISSING) for name in BAG_INT_FEATURES}
    spec.update({name: tf.io.FixedLenFeature([], tf.string, "") for name in BAG_STRING_FEATURES})
    spec.update(
        {name: tf.io.FixedLenSequenceFeature([], tf.int64, True) for name in FACE_INT_FEATURES}
    )
    spec["faces"] = tf.io.FixedLenSequenceFeature([], tf.string, True)
    spec["boxes"] = tf.io.FixedLenSequenceFeature([4], tf.int64, True)
    spec["confidences"] = tf.io.FixedLenSequenceFeature([], tf.float32, True)
    spec["margin"] = tf.io.FixedLenFeature([], tf.float32, DEFAULT_MARGIN)
    return spec


def parse_bag_example(serialized, source=""):
    """Parses one serialized bag record inside a `tf.data` pipeline.

    Checks in the graph that the record carries the required fields and a known schema version;
    a record that does not fails with an error naming `source` (e.g. the shard file).

    Args:
        serialized: scalar string tensor, one record of a shard.
        source: string (or string tensor) naming where the record came from, for errors.

    Returns:
        A dict of tensors: `faces` string `(n,)` (JPEG bytes), `frame_indices`, `track_ids`,
        `face_labels` int32 `(n,)`, `boxes` int32 `(n, 4)`, `confidences` float32 `(n,)`,
        `label`, `num_faces`, `image_size`, `schema_version` int32 scalars, `margin` float32
        scalar and `video_id`, `video`, `dataset`, `method` string scalars.

    Example:

    >>> ds = tf.data.TFRecordDataset(["bags/bags-00000.tfrecord"]).map(parse_bag_example)
    """
    bag = tf.io.parse_single_example(serialized, _feature_spec())
    checks = [
        tf.debugging.Assert(
            tf.equal(bag["schema_version"], SCHEMA_VERSION),
            [
                "bag record in",
                source,
                "has schema version",
                bag["schema_version"],
                f"(expected {SCHEMA_VERSION}; -999 means the field is missing)",
            ],
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.stack([bag[name] != _MISSING for name in BAG_INT_FEATURES])),
            ["bag record in", source, "is missing one of the fields", ", ".join(BAG_INT_FEATURES)],
        ),
    ]
    n = bag["num_faces"]
    lengths = [
        tf.size(bag[name], out_type=tf.int64)
        for name in ("faces", "frame_indices", "track_ids", "face_labels", "confidences")
    ]
    lengths.append(tf.shape(bag["boxes"], out_type=tf.int64)[0])
    checks.append(
        tf.debugging.Assert(
            tf.logical_and(n > 0, tf.reduce_all(tf.equal(tf.stack(lengths), n))),
            [
                "bag record in",
                source,
                "video",
                bag["video"],
                "has num_faces",
                n,
                "but per-face fields of lengths (faces, frame_indices, track_ids, face_labels, "
                "confidences, boxes)",
                tf.stack(lengths),
            ],
        )
    )
    with tf.control_dependencies(checks):
        out = {
            name: tf.identity(bag[name])
            for name in ("faces", "video_id", "video", "dataset", "method")
        }
    out.update(
        {
            name: tf.cast(bag[name], tf.int32)
            for name in BAG_INT_FEATURES + FACE_INT_FEATURES + ("boxes",)
        }
    )
    out["confidences"] = bag["confidences"]
    out["margin"] = bag["margin"]
    return out
