"""Bag shards on disk: writer, reader, schema validation, manifest."""

import json
import os
import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf

from smil_keras.bags import (
    BagFormatError,
    BagRecord,
    BagShardWriter,
    ManifestRow,
    count_bags,
    find_shards,
    parse_bag_example,
    read_bags,
    read_manifest,
    write_manifest,
)


def random_record(rng, index, size=32):
    n = int(rng.integers(1, 6))
    return BagRecord(
        video_id=f"video/{index}",
        video=f"/data/video_{index}.mp4",
        crops=[rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)],
        frame_indices=np.sort(rng.choice(100, n, replace=False)),
        boxes=rng.integers(0, 500, (n, 4)),
        confidences=rng.uniform(0.9, 1.0, n).astype(np.float32),
        track_ids=rng.integers(-1, 3, n),
        label=int(rng.integers(-1, 2)),
        face_labels=rng.integers(-1, 2, n),
        method=["", "Deepfakes", "FaceSwap"][index % 3],
        dataset="synthetic",
        margin=float(rng.uniform(1.3, 1.6)),
    )


def cv2_jpeg(image):
    """Independent reference: OpenCV's JPEG encoding at quality 95, decoded back to RGB."""
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def write_shards(out_dir, records, videos_per_shard=3):
    with BagShardWriter(out_dir, prefix="test", videos_per_shard=videos_per_shard) as writer:
        for record in records:
            writer.write(record)
    return writer.shards


def test_round_trip_keeps_every_field_and_the_jpeg_crops(tmp_path):
    rng = np.random.default_rng(0)
    records = [random_record(rng, i) for i in range(7)]
    shards = write_shards(tmp_path, records)
    assert [os.path.basename(s) for s in shards] == [
        "test-00000.tfrecord",
        "test-00001.tfrecord",
        "test-00002.tfrecord",
    ]
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(s) for s in shards]  # no temp files
    back = list(read_bags(tmp_path))
    assert len(back) == len(records)
    for original, read in zip(records, back, strict=True):
        for name in ("video_id", "video", "label", "method", "dataset", "image_size"):
            assert getattr(read, name) == getattr(original, name)
        for name in ("frame_indices", "boxes", "track_ids", "face_labels"):
            np.testing.assert_array_equal(getattr(read, name), getattr(original, name))
        np.testing.assert_allclose(read.confidences, original.confidences, rtol=1e-6)
        assert read.margin == pytest.approx(original.margin, rel=1e-6)  # float32 on disk
        assert all(isinstance(crop, bytes) for crop in read.crops)
        for decoded, crop in zip(read.decoded_crops(), original.crops, strict=True):
            np.testing.assert_array_equal(decoded, cv2_jpeg(crop))


def test_jpeg_bytes_are_stored_unchanged_and_defaults_mean_unknown(tmp_path):
    jpeg = cv2.imencode(".jpg", np.full((16, 16, 3), 77, np.uint8))[1].tobytes()
    write_shards(tmp_path, [BagRecord("a", "a.mp4", [jpeg, jpeg])])
    (read,) = read_bags(tmp_path)
    assert read.crops == [jpeg, jpeg] and read.image_size == 16
    np.testing.assert_array_equal(read.frame_indices, [0, 1])
    np.testing.assert_array_equal(read.face_labels, [-1, -1])
    np.testing.assert_array_equal(read.track_ids, [-1, -1])
    assert read.label == -1 and read.method == "" and read.dataset == ""
    assert read.margin == pytest.approx(1.3)  # FaceForensics++' margin when none is given


def test_records_without_a_margin_read_as_1_3_and_views_are_centre_windows(tmp_path):
    record = BagRecord("a", "a.mp4", [np.arange(20 * 20 * 3, dtype=np.uint8).reshape(20, 20, 3)])
    example = record.to_example()
    del example.features.feature["margin"]  # as written before the field existed
    (tmp_path / "old.tfrecord").write_bytes(b"")
    with tf.io.TFRecordWriter(str(tmp_path / "old.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    (read,) = read_bags(tmp_path / "old.tfrecord")
    assert read.margin == 1.3
    (parsed,) = tf.data.TFRecordDataset(str(tmp_path / "old.tfrecord")).map(parse_bag_example)
    assert parsed["margin"].numpy() == pytest.approx(1.3)
    # A crop of margin 2.6 holds the 1.3 view in its centre half; a wider view is refused.
    crop = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    wide = BagRecord("b", "b.mp4", [crop], margin=2.6)
    np.testing.assert_array_equal(wide.decoded_crops(margin=1.3)[0], crop[5:15, 5:15])
    np.testing.assert_array_equal(wide.decoded_crops()[0], crop)
    with pytest.raises(ValueError, match="wider"):
        wide.decoded_crops(margin=3.0)


def test_record_rejects_inconsistent_faces():
    crop = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="no faces"):
        BagRecord("a", "a.mp4", [])
    with pytest.raises(ValueError, match="2 faces but a per-face field"):
        BagRecord("a", "a.mp4", [crop, crop], face_labels=[0, 1, 1])
    with pytest.raises(ValueError, match="like the first one"):
        BagRecord("a", "a.mp4", [crop, np.zeros((9, 9, 3), np.uint8)])
    with pytest.raises(ValueError, match="labels must be"):
        BagRecord("a", "a.mp4", [crop], label=2)


def test_interrupted_writer_keeps_complete_shards_and_drops_the_partial_one(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError), BagShardWriter(tmp_path, videos_per_shard=2) as writer:
        for i in range(3):
            writer.write(random_record(rng, i))
        raise RuntimeError("interrupted")
    assert sorted(os.listdir(tmp_path)) == ["bags-00000.tfrecord"]
    assert [r.video_id for r in read_bags(tmp_path)] == ["video/0", "video/1"]


def test_truncated_shard_error_names_the_file(tmp_path):
    (shard,) = write_shards(
        tmp_path, [random_record(np.random.default_rng(2), i) for i in range(3)]
    )
    data = pathlib.Path(shard).read_bytes()
    pathlib.Path(shard).write_bytes(data[:-20])
    with pytest.raises(BagFormatError, match="test-00000.tfrecord.*corrupt TFRecord"):
        list(read_bags(shard))


def test_random_bytes_file_error_names_the_file(tmp_path):
    path = tmp_path / "noise.tfrecord"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(BagFormatError, match="noise.tfrecord"):
        list(read_bags(path))


def write_raw_example(path, drop):
    example = random_record(np.random.default_rng(4), 0).to_example()
    del example.features.feature[drop]
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(example.SerializeToString())


@pytest.mark.parametrize("field", ["label", "faces", "schema_version", "video"])
def test_record_missing_a_field_is_named_with_its_file(tmp_path, field):
    path = tmp_path / "missing.tfrecord"
    write_raw_example(path, field)
    with pytest.raises(
        BagFormatError, match=f"missing.tfrecord: record 0: missing field '{field}'"
    ):
        list(read_bags(path))


def test_parse_bag_example_matches_read_bags(tmp_path):
    records = [random_record(np.random.default_rng(5), i) for i in range(4)]
    (shard,) = write_shards(tmp_path, records, videos_per_shard=10)
    parsed = list(tf.data.TFRecordDataset(shard).map(parse_bag_example).as_numpy_iterator())
    for bag, record in zip(parsed, read_bags(shard), strict=True):
        assert bag["video_id"].decode() == record.video_id and bag["label"] == record.label
        assert list(bag["faces"]) == record.crops
        np.testing.assert_array_equal(bag["boxes"], record.boxes)
        np.testing.assert_array_equal(bag["face_labels"], record.face_labels)
        np.testing.assert_array_equal(bag["frame_indices"], record.frame_indices)
        assert bag["num_faces"] == len(record) and bag["image_size"] == record.image_size


def test_parse_bag_example_names_the_file_of_a_record_missing_a_field(tmp_path):
    path = tmp_path / "missing.tfrecord"
    write_raw_example(path, "label")
    dataset = tf.data.TFRecordDataset(str(path)).map(
        lambda record: parse_bag_example(record, str(path))
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="missing.tfrecord"):
        list(dataset)


def test_find_shards_accepts_folder_glob_and_list_and_fails_clearly(tmp_path):
    shards = write_shards(
        tmp_path, [random_record(np.random.default_rng(6), i) for i in range(4)], videos_per_shard=2
    )
    assert find_shards(tmp_path) == shards
    assert find_shards(str(tmp_path / "test-*.tfrecord")) == shards
    assert find_shards([shards[1], shards[0], shards[1]]) == shards
    with pytest.raises(FileNotFoundError, match="no bag shards"):
        find_shards(tmp_path / "empty_or_missing")


def test_count_bags_agrees_with_tensorflows_reader_and_refuses_truncated_shards(tmp_path):
    rng = np.random.default_rng(7)
    shards = write_shards(tmp_path, [random_record(rng, i) for i in range(7)], videos_per_shard=3)
    for shard in shards:  # 3, 3, 1 records, counted by TensorFlow's own reader
        assert count_bags(shard) == sum(1 for _ in tf.data.TFRecordDataset(shard))
    assert count_bags(tmp_path) == count_bags(shards) == 7
    empty = tmp_path / "empty" / "none.tfrecord"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    assert count_bags(empty) == 0
    cut = tmp_path / "cut" / "cut.tfrecord"
    cut.parent.mkdir()
    cut.write_bytes(pathlib.Path(shards[0]).read_bytes()[:-10])  # the third record loses its end
    with pytest.raises(BagFormatError, match=r"cut.tfrecord: record 2 claims \d+ bytes"):
        count_bags(cut)
    junk = tmp_path / "cut" / "junk.tfrecord"
    junk.write_bytes(b"not a tfrecord at all")
    with pytest.raises(BagFormatError, match="junk.tfrecord"):
        count_bags(junk)


def test_manifest_round_trip_csv_and_json(tmp_path):
    rows = [
        ManifestRow("/v/a.mp4", "ok", "", 20, 20, 1, "bags-00000.tfrecord", "a"),
        ManifestRow("/v/b, with comma.mp4", "error", "cannot be opened, really", 0, 0, -1, "", "b"),
    ]
    write_manifest(tmp_path, rows)
    assert read_manifest(tmp_path) == rows
    assert json.loads((tmp_path / "manifest.json").read_text())[1]["reason"] == rows[1].reason


def test_records_are_serialised_deterministically_whatever_the_features_history(tmp_path):
    """Shards are byte-identical across runs and processes: a record's feature map is written
    in protobuf's deterministic (key) order, not in the order its map happens to hold."""
    record = random_record(np.random.default_rng(8), 0)
    (shard,) = write_shards(tmp_path, [record])
    (serialized,) = tf.data.TFRecordDataset(shard).as_numpy_iterator()
    example = tf.train.Example.FromString(serialized)
    # The same features, inserted into a fresh map in the reverse order.
    reverse = tf.train.Example()
    for name in reversed(list(example.features.feature)):
        reverse.features.feature[name].CopyFrom(example.features.feature[name])
    assert serialized == reverse.SerializeToString(deterministic=True)
    assert serialized == record.serialize()
