"""One bag (the faces of one video) in Python, and its conversion to and from a TFRecord example."""

import dataclasses

import cv2
import numpy as np
import tensorflow as tf

from smil_keras.bags import schema
from smil_keras.errors import BagFormatError


def encode_jpeg(crop, quality=95):
    """JPEG bytes of an RGB `uint8` image `(H, W, 3)`."""
    ok, buffer = cv2.imencode(
        ".jpg", np.ascontiguousarray(crop[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {crop.shape}")
    return buffer.tobytes()


def decode_jpeg(data):
    """RGB `uint8` image `(H, W, 3)` of JPEG bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable JPEG image")
    return image[..., ::-1].copy()


@dataclasses.dataclass(eq=False)  # NumPy fields: compare them field by field
class BagRecord:
    """The faces of one video with their metadata: one record of a bag shard (`bags.schema`).

    Only `video_id`, `video` and `crops` are required; the per-face fields default to "unknown",
    so a builder that makes faces itself (FFPMS, synthetic attacks) can write a record from
    already-decoded crops. Per-face sequences are converted to NumPy arrays and checked to have
    one entry per face.

    Args:
        video_id: identifier unique within the dataset (e.g. `"Deepfakes/519_515"`).
        video: path of the source video.
        crops: square face crops in frame order: RGB `uint8` arrays `(S, S, 3)` of one size, or
            their JPEG bytes (what `read_bags` returns). At least one.
        frame_indices: frame index of each face in the video; default `0..n-1`.
        boxes: `(n, 4)` face boxes `(x, y, w, h)` in full-frame pixels; default zeros (unknown).
        confidences: detector confidence per face; default 1.0.
        track_ids: track id per face; default -1 (not tracked).
        label: video label, 0 real, 1 fake, -1 unknown.
        face_labels: per-face labels, 0 real, 1 fake, -1 unknown; default -1.
        method: manipulation method, `""` if none or unknown.
        dataset: source dataset name, `""` if unknown.
        image_size: side `S` of the crops; found from `crops` when left `None`.
        margin: crop side relative to the face box's longer side (`crop_face`), i.e. how much
            context around the face the crops hold; `make_bag_dataset` cuts its view from it.

    Example:

    >>> import numpy as np
    >>> crops = [np.zeros((64, 64, 3), np.uint8)] * 3
    >>> record = BagRecord("vid", "vid.mp4", crops, frame_indices=[0, 5, 10], label=1,
    ...                    face_labels=[0, 1, 1])
    >>> with BagShardWriter("out", videos_per_shard=100) as writer:
    ...     writer.write(record)
    """

    video_id: str
    video: str
    crops: list[np.ndarray | bytes]
    frame_indices: np.ndarray | None = None
    boxes: np.ndarray | None = None
    confidences: np.ndarray | None = None
    track_ids: np.ndarray | None = None
    label: int = -1
    face_labels: np.ndarray | None = None
    method: str = ""
    dataset: str = ""
    image_size: int | None = None
    margin: float = schema.DEFAULT_MARGIN

    def __post_init__(self):
        self.video_id, self.video = str(self.video_id), str(self.video)
        self.crops = list(self.crops)
        n = len(self.crops)
        if n == 0:
            raise ValueError(f"bag of video {self.video} has no faces; a bag needs at least one")
        if self.image_size is None:
            first = self.crops[0]
            first = decode_jpeg(first) if isinstance(first, bytes) else first
            self.image_size = int(first.shape[0])
        for crop in self.crops:
            if not isinstance(crop, bytes) and (
                crop.dtype != np.uint8 or crop.shape != (self.image_size, self.image_size, 3)
            ):
                raise ValueError(
                    f"bag of video {self.video}: crops must be uint8 ({self.image_size}, "
                    f"{self.image_size}, 3) like the first one, got {crop.dtype} {crop.shape}"
                )

        def per_face(value, default, dtype, shape=()):
            if value is None:
                return np.full((n,) + shape, default, dtype)
            array = np.asarray(value, dtype)
            if array.shape != (n,) + shape:
                raise ValueError(
                    f"bag of video {self.video} has {n} faces but a per-face field of shape "
                    f"{array.shape}, expected {(n,) + shape}"
                )
            return array

        self.frame_indices = per_face(
            np.arange(n) if self.frame_indices is None else self.frame_indices, 0, np.int64
        )
        self.boxes = per_face(self.boxes, 0, np.int64, (4,))
        self.confidences = per_face(self.confidences, 1.0, np.float32)
        self.track_ids = per_face(self.track_ids, -1, np.int64)
        self.face_labels = per_face(self.face_labels, -1, np.int64)
        self.label = int(self.label)
        self.margin = float(self.margin)
        if not self.margin > 0:
            raise ValueError(
                f"bag of video {self.video}: margin must be positive, got {self.margin}"
            )
        if self.label not in (-1, 0, 1) or not np.isin(self.face_labels, (-1, 0, 1)).all():
            raise ValueError(f"bag of video {self.video}: labels must be 0, 1 or -1 (unknown)")

    def __len__(self):
        return len(self.crops)

    def jpeg_crops(self, quality=95):
        """The crops as JPEG bytes (crops already stored as bytes are returned unchanged)."""
        return [c if isinstance(c, bytes) else encode_jpeg(c, quality) for c in self.crops]

    def decoded_crops(self, margin=None):
        """The crops as RGB `uint8` arrays `(S, S, 3)`, or only their centre view of `margin`.

        Args:
            margin: `None` for the whole stored crops, or the model's view (e.g. 1.3): the
                centre square of side `round(S * margin / self.margin)`, the faces
                `make_bag_dataset(training=False, margin=margin)` gives the model.

        Example:
        >>> record = next(read_bags("bags/test"))  # doctest: +SKIP
        >>> record.image_size, record.decoded_crops(margin=1.3)[0].shape  # doctest: +SKIP
        (331, (299, 299, 3))
        """
        crops = [decode_jpeg(c) if isinstance(c, bytes) else c for c in self.crops]
        if margin is None:
            return crops
        side = int(round(self.image_size * margin / self.margin))
        if side > self.image_size + 1:  # + 1: the stored margin is rounded to float32
            raise ValueError(
                f"bag of video {self.video}: a view of margin {margin} is wider "
                f"than its crops (margin {self.margin:.3f})"
            )
        side = min(side, self.image_size)
        start = (self.image_size - side) // 2
        return [crop[start : start + side, start : start + side] for crop in crops]

    def to_example(self, jpeg_quality=95):
        """This record as a `tf.train.Example` following `bags.schema`."""

        def ints(values):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(values).tolist()))

        def strings(values):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

        features = {
            "schema_version": ints([schema.SCHEMA_VERSION]),
            "label": ints([self.label]),
            "num_faces": ints([len(self)]),
            "image_size": ints([self.image_size]),
            "faces": strings(self.jpeg_crops(jpeg_quality)),
            "boxes": ints(self.boxes),
            "confidences": tf.train.Feature(
                float_list=tf.train.FloatList(value=self.confidences.tolist())
            ),
            "margin": tf.train.Feature(float_list=tf.train.FloatList(value=[self.margin])),
        }
        for name in schema.BAG_STRING_FEATURES:
            features[name] = strings([getattr(self, name).encode("utf-8")])
        for name in schema.FACE_INT_FEATURES:
            features[name] = ints(getattr(self, name))
        return tf.train.Example(features=tf.train.Features(feature=features))

    def serialize(self, jpeg_quality=95):
        """This record's `tf.train.Example` as bytes, serialised deterministically: the same
        record gives the same bytes in every process and run (shards are byte-identical)."""
        return self.to_example(jpeg_quality).SerializeToString(deterministic=True)

    @classmethod
    def from_example(cls, example, source="", index=None):
        """Validates a `tf.train.Example` against `bags.schema` and returns its `BagRecord`.

        Crops stay JPEG bytes (`decoded_crops()` decodes them).

        Raises:
            BagFormatError: naming `source` and the record `index`, for a missing field, a field
                of the wrong type or length, or an unknown schema version.
        """
        where = f"record {index}" if index is not None else "record"
        features = example.features.feature

        def get(name, kind):
            if name not in features or features[name].WhichOneof("kind") != kind:
                raise BagFormatError(source, f"{where}: missing field '{name}' ({kind})")
            return list(getattr(features[name], kind).value)

        version = get("schema_version", "int64_list")
        if version != [schema.SCHEMA_VERSION]:
            raise BagFormatError(
                source,
                f"{where}: schema version {version}, this code reads {schema.SCHEMA_VERSION}",
            )
        scalars = {}
        for name in schema.BAG_INT_FEATURES:
            values = get(name, "int64_list")
            if len(values) != 1:
                raise BagFormatError(source, f"{where}: field '{name}' must hold one value")
            scalars[name] = values[0]
        for name in schema.BAG_STRING_FEATURES:
            values = get(name, "bytes_list")
            if len(values) != 1:
                raise BagFormatError(source, f"{where}: field '{name}' must hold one value")
            scalars[name] = values[0].decode("utf-8")
        margin = [schema.DEFAULT_MARGIN]
        if "margin" in features:  # optional: older records hold the default
            margin = get("margin", "float_list")
        if len(margin) != 1:
            raise BagFormatError(source, f"{where}: field 'margin' must hold one value")
        n = scalars["num_faces"]
        if n < 1:
            raise BagFormatError(source, f"{where}: num_faces is {n}, a bag needs a face")
        boxes = get("boxes", "int64_list")
        if len(boxes) != 4 * n:
            raise BagFormatError(
                source, f"{where}: 'boxes' holds {len(boxes)} values, expected 4 per face ({4 * n})"
            )
        per_face = {
            "faces": get("faces", "bytes_list"),
            "boxes": np.reshape(boxes, (n, 4)),
            "confidences": get("confidences", "float_list"),
        }
        for name in schema.FACE_INT_FEATURES:
            per_face[name] = get(name, "int64_list")
        wrong = {name: len(values) for name, values in per_face.items() if len(values) != n}
        if wrong:
            raise BagFormatError(
                source, f"{where}: num_faces is {n} but the per-face fields have lengths {wrong}"
            )
        try:
            return cls(
                video_id=scalars["video_id"],
                video=scalars["video"],
                crops=per_face["faces"],
                frame_indices=per_face["frame_indices"],
                boxes=per_face["boxes"],
                confidences=per_face["confidences"],
                track_ids=per_face["track_ids"],
                label=scalars["label"],
                face_labels=per_face["face_labels"],
                method=scalars["method"],
                dataset=scalars["dataset"],
                image_size=scalars["image_size"],
                margin=margin[0],
            )
        except ValueError as error:
            raise BagFormatError(source, f"{where}: {error}") from error
