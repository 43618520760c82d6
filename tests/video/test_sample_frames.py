"""Frame sampling: which frames, how many, their orientation, and errors on bad files."""

import fractions
import shutil

import av
import cv2
import numpy as np
import pytest

from smil_keras.video import FrameSample, VideoReadError, sample_frames, uniform_indices

FFPP_634 = "videos/ffpp/original_sequences/youtube/c23/videos/634.mp4"
HAMILTON = "videos/real/face_recognition__short_hamilton_clip.mp4"
PORTRAIT = "videos/dfdc/dfdc_train_part_0/brtujopkby.mp4"


def write_clip(
    path,
    num_frames,
    width=64,
    height=48,
    rotation=None,
    pts_ms=None,
    rate=10,
    container=None,
    **options,
):
    """Writes an H.264 clip whose frame i is a distinct pattern of 8x8 blocks seeded by i.

    Returns the frames written. (Blocks, not pixel noise, so H.264 keeps them recognisable.)
    """
    out = av.open(str(path), "w", format=container, options=options)
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if rotation is not None:
        stream.set_display_rotation(rotation)
    if pts_ms is not None:
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
    frames = []
    for i in range(num_frames):
        blocks = np.random.default_rng(i).integers(
            0, 256, (height // 8, width // 8, 3), dtype=np.uint8
        )
        image = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
        frames.append(image)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if pts_ms is not None:
            frame.pts, frame.time_base = pts_ms[i], fractions.Fraction(1, 1000)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    return frames


def decode_all(path):
    """Every frame, RGB, by a plain `read()` loop (the reference)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def assert_uniform(indices, frame_count, num_frames):
    assert len(indices) == num_frames
    assert indices[0] == 0 and indices[-1] == frame_count - 1
    gaps = np.diff(indices)
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1
    ideal = (frame_count - 1) / (num_frames - 1)
    assert abs(gaps.mean() - ideal) < 1e-9


@pytest.mark.parametrize(
    "frame_count,num_frames", [(300, 20), (21, 20), (751, 20), (100, 7), (2, 2)]
)
def test_uniform_indices_are_exactly_n_evenly_spread_over_the_whole_video(frame_count, num_frames):
    assert_uniform(uniform_indices(frame_count, num_frames), frame_count, num_frames)


def test_uniform_indices_give_every_frame_once_when_the_video_is_short():
    assert uniform_indices(5, 20) == [0, 1, 2, 3, 4]
    assert uniform_indices(0, 20) == []


def test_sampled_frames_are_the_right_frames_in_rgb(fixtures_dir):
    path = fixtures_dir / HAMILTON
    sample = sample_frames(path, num_frames=6)
    reference = decode_all(path)
    assert isinstance(sample, FrameSample)
    assert sample.frame_count == len(reference) == 275  # PROVENANCE.md
    assert sample.fps == pytest.approx(29.97, abs=0.01)
    assert_uniform(sample.indices, 275, 6)
    for index, frame in zip(sample.indices, sample.frames, strict=True):
        assert frame.dtype == np.uint8 and frame.shape == (360, 640, 3)
        np.testing.assert_array_equal(frame, reference[index])


def test_720p_video_gives_exactly_n_frames(fixtures_dir):
    sample = sample_frames(fixtures_dir / FFPP_634, num_frames=20)
    assert len(sample) == 20 and sample.frame_count == 338
    assert_uniform(sample.indices, 338, 20)
    assert all(frame.shape == (720, 1280, 3) for frame in sample.frames)


def test_portrait_video_frames_are_portrait(fixtures_dir):
    sample = sample_frames(fixtures_dir / PORTRAIT, num_frames=3)
    assert [frame.shape for frame in sample.frames] == [(1920, 1080, 3)] * 3
    assert sample.indices == [0, 150, 299]


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "rotated.mp4"
    original = write_clip(path, 3, width=64, height=48, rotation=90)
    sample = sample_frames(path, num_frames=3)
    assert sample.frames[0].shape == (64, 48, 3)
    # A counter-clockwise quarter turn, as np.rot90; H.264 is lossy, so compare loosely.
    error = np.abs(sample.frames[1].astype(int) - np.rot90(original[1]).astype(int)).mean()
    unrotated_error = np.abs(
        sample.frames[1].astype(int) - np.rot90(original[1], -1).astype(int)
    ).mean()
    assert error < 20 < unrotated_error


def test_short_video_gives_all_its_frames_once(tmp_path):
    path = tmp_path / "short.mp4"
    original = write_clip(path, 5)
    sample = sample_frames(path, num_frames=20)
    assert sample.indices == [0, 1, 2, 3, 4] and sample.frame_count == 5
    for i, frame in enumerate(sample.frames):
        distances = [np.abs(frame.astype(int) - o.astype(int)).mean() for o in original]
        assert int(np.argmin(distances)) == i


def test_understated_frame_count_still_samples_the_whole_video(tmp_path):
    # A dense clip declared at 1 fps: Matroska's duration * rate claims 2 frames for 60.
    path = tmp_path / "understated.mkv"
    write_clip(path, 60, rate=1, pts_ms=[10 * i for i in range(60)])
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) < 60
    sample = sample_frames(path, num_frames=10)
    assert sample.frame_count == len(decode_all(path)) == 60
    assert_uniform(sample.indices, 60, 10)


def test_overstated_frame_count_of_a_truncated_file_is_corrected(tmp_path):
    full = tmp_path / "full.mp4"
    write_clip(full, 40, movflags="faststart")  # index first, so a truncated copy still opens
    data = full.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.6)])
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) == 40
    real = len(decode_all(path))
    assert 2 < real < 40
    sample = sample_frames(path, num_frames=20)
    assert sample.frame_count == real
    assert sample.indices == uniform_indices(real, 20) and len(sample.frames) == min(real, 20)


def test_raw_stream_without_a_frame_count_is_counted(tmp_path):
    path = tmp_path / "raw.h264"
    write_clip(path, 30, container="h264")
    assert not 0 < cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) < 2**31
    sample = sample_frames(path, num_frames=4)
    assert sample.frame_count == 30 and sample.indices == [0, 10, 19, 29]


def assert_read_error(path, words):
    with pytest.raises(VideoReadError) as error:
        sample_frames(path)
    assert str(path) in str(error.value) and error.value.path == str(path)
    assert any(word in str(error.value) for word in words), str(error.value)


def test_missing_file_is_a_read_error(tmp_path):
    assert_read_error(tmp_path / "missing.mp4", ["not found"])


def test_text_file_is_a_read_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a video\n")
    assert_read_error(path, ["cannot be opened"])


def test_empty_file_is_a_read_error(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    assert_read_error(path, ["empty"])


def test_jpeg_renamed_mp4_is_a_read_error(fixtures_dir, tmp_path):
    path = tmp_path / "photo.mp4"
    shutil.copy(fixtures_dir / "images/face_recognition/obama.jpg", path)
    assert_read_error(path, ["still image"])


def test_truncated_fixture_video_is_a_read_error(fixtures_dir, tmp_path):
    path = tmp_path / "truncated.mp4"
    path.write_bytes((fixtures_dir / FFPP_634).read_bytes()[:300_000])
    assert_read_error(path, ["cannot be opened", "no decodable frame"])


def test_file_without_decodable_frames_is_a_read_error(tmp_path):
    full = tmp_path / "full.mp4"
    write_clip(full, 10, movflags="faststart")
    data = full.read_bytes()
    path = tmp_path / "header_only.mp4"
    path.write_bytes(data[: data.find(b"mdat") + 4])  # index and no frame data
    assert_read_error(path, ["no decodable frame", "cannot be opened"])


def test_read_error_is_a_value_error_and_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(VideoReadError("a.mp4", "broken")))
    assert isinstance(error, ValueError) and error.path == "a.mp4" and error.reason == "broken"


def test_on_frame_gets_each_sampled_frame_as_it_is_decoded(tmp_path):
    path = tmp_path / "clip.mp4"
    write_clip(path, 30)
    passed = []
    sample = sample_frames(
        path, num_frames=4, on_frame=lambda index, frame: passed.append((index, frame))
    )
    assert [index for index, _ in passed] == sample.indices == [0, 10, 19, 29]
    assert all(frame is kept for (_, frame), kept in zip(passed, sample.frames, strict=True))


def test_on_frame_sees_a_resampled_video_again_and_can_stop_decoding(tmp_path):
    path = tmp_path / "understated.mkv"
    write_clip(path, 60, rate=1, pts_ms=[10 * i for i in range(60)])  # claims fewer than 60 frames
    passed = []
    sample = sample_frames(path, num_frames=10, on_frame=lambda index, frame: passed.append(index))
    assert passed[-len(sample.indices) :] == sample.indices  # the second pass, after resampling

    def stop(index, frame):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_frames(path, num_frames=10, on_frame=stop)
