"""From frames and video files to tracked faces and crops."""

import threading

import av
import numpy as np
import pytest

from smil_keras.faces import (
    Face,
    FaceDetector,
    MTCNNDetector,
    NoFacesError,
    VideoFaces,
    crop_face,
    extract_faces,
    extract_video_faces,
)
from smil_keras.video import VideoReadError, sample_frames, uniform_indices

FFPP_519 = "videos/ffpp/original_sequences/youtube/c23/videos/519.mp4"
PORTRAIT = "videos/dfdc/dfdc_train_part_0/brtujopkby.mp4"
CROWD = "videos/real/facenet_pytorch__video.mp4"


@pytest.fixture(scope="module")
def detector():
    return MTCNNDetector()  # the contract's defaults, as `smil extract` uses them


class FixedBoxDetector(FaceDetector):
    """A plug-in detector: one face at a fixed box in every frame."""

    def detect(self, frames):
        return [[Face(i, (10, 20, 30, 40), 0.5)] for i, _ in enumerate(frames)]


def test_news_anchor_video_gives_one_tracked_face_per_sampled_frame(fixtures_dir, detector):
    result = extract_video_faces(fixtures_dir / FFPP_519, detector, num_frames=4, size=128)
    assert isinstance(result, VideoFaces)
    assert result.frame_indices == uniform_indices(751, 4) == [0, 250, 500, 750]
    assert result.num_frames_sampled == 4 and result.frame_count == 751 and result.fps == 25.0
    assert [f.frame_index for f in result.faces] == result.frame_indices
    assert result.track_ids.tolist() == [0, 0, 0, 0]
    assert result.boxes.shape == (4, 4) and (result.boxes[:, 2] > 40).all()
    assert result.confidences.dtype == np.float32 and (result.confidences >= 0.9).all()
    assert [c.shape for c in result.crops] == [(128, 128, 3)] * 4
    assert all(c.dtype == np.uint8 for c in result.crops)


def test_portrait_video_faces_are_in_portrait_coordinates(fixtures_dir, detector):
    result = extract_video_faces(fixtures_dir / PORTRAIT, detector, num_frames=3, size=64)
    assert len(result.faces) >= 2  # PROVENANCE.md: a small face, missed in some frames
    for x, y, w, h in result.boxes:
        assert x + w <= 1080 and y + h <= 1920
    assert all(c.shape == (64, 64, 3) for c in result.crops)


def test_crowd_frames_give_several_faces_each_with_distinct_tracks(fixtures_dir, detector):
    sample = sample_frames(fixtures_dir / CROWD, num_frames=2)
    faces, crops = extract_faces(sample.frames, sample.indices, detector, size=64)
    assert len(faces) == len(crops)
    for index in sample.indices:
        in_frame = [f for f in faces if f.frame_index == index]
        assert len(in_frame) >= 2
        assert len({f.track_id for f in in_frame}) == len(in_frame)


def test_any_face_detector_plugs_in_and_frames_are_renumbered():
    frames = [np.full((100, 120, 3), i * 50, np.uint8) for i in range(3)]
    faces, crops = extract_faces(frames, [5, 10, 15], FixedBoxDetector(), size=32, margin=2.0)
    assert [f.frame_index for f in faces] == [5, 10, 15]
    assert [f.track_id for f in faces] == [0, 0, 0]  # same box in every frame: one track
    for frame, crop in zip(frames, crops, strict=True):
        np.testing.assert_array_equal(crop, crop_face(frame, (10, 20, 30, 40), margin=2.0, size=32))
    faces, _ = extract_faces(frames, None, FixedBoxDetector())
    assert [f.frame_index for f in faces] == [0, 1, 2]


def test_frame_and_index_counts_must_match():
    with pytest.raises(ValueError, match="2 frames but 1 frame indices"):
        extract_faces([np.zeros((8, 8, 3), np.uint8)] * 2, [0], FixedBoxDetector())
    assert extract_faces([], [], FixedBoxDetector()) == ([], [])


def test_video_without_faces_raises_no_faces_error(tmp_path, detector):
    path = tmp_path / "gradient.mp4"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    for i in range(6):
        image = np.broadcast_to(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (64, 96, 3))
        frame = np.ascontiguousarray(image) // (i + 1)  # darker and darker, never a face
        out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    out.mux(stream.encode())
    out.close()
    with pytest.raises(NoFacesError) as error:
        extract_video_faces(path, detector, num_frames=20)
    assert str(path) in str(error.value) and error.value.frames_searched == 6


def test_unreadable_video_raises_video_read_error(tmp_path, detector):
    path = tmp_path / "notes.mp4"
    path.write_text("hello")
    with pytest.raises(VideoReadError, match="notes.mp4"):
        extract_video_faces(path, detector)


class MeanDetector(FaceDetector):
    """One face per frame whose confidence is the frame's mean pixel: says which frame it saw."""

    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def detect(self, frames):
        self.calls.append(len(frames))
        if self.fail:
            raise RuntimeError("detector broke")
        return [[Face(i, (4, 4, 16, 16), float(frame.mean()))] for i, frame in enumerate(frames)]


def write_blocks_clip(path, num_frames, rate=10, pts_ms=None):
    """A small H.264 clip of distinct random-block frames."""
    import fractions

    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    if pts_ms is not None:
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
    for i in range(num_frames):
        blocks = np.random.default_rng(i).integers(0, 256, (6, 8, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(
            np.kron(blocks, np.ones((8, 8, 1), np.uint8)), format="rgb24"
        )
        if pts_ms is not None:
            frame.pts, frame.time_base = pts_ms[i], fractions.Fraction(1, 1000)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()


def test_video_faces_match_detection_on_the_sampled_frames(fixtures_dir, detector):
    # extract_video_faces detects while a thread decodes; the result is the plain pipeline's.
    result = extract_video_faces(
        fixtures_dir / FFPP_519, detector, num_frames=6, size=64, keep_frames=True
    )
    sample = sample_frames(fixtures_dir / FFPP_519, num_frames=6)
    faces, crops = extract_faces(sample.frames, sample.indices, detector, size=64)
    assert result.frame_indices == sample.indices
    assert len(result.frames) == len(sample.frames)  # kept: the frames the faces come from
    for kept, frame in zip(result.frames, sample.frames, strict=True):
        np.testing.assert_array_equal(kept, frame)
    assert [(f.frame_index, f.box, f.track_id) for f in result.faces] == [
        (f.frame_index, f.box, f.track_id) for f in faces
    ]
    assert [f.confidence for f in result.faces] == pytest.approx(
        [f.confidence for f in faces], abs=1e-5
    )
    for a, b in zip(result.crops, crops, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("understated", [False, True])
def test_video_faces_belong_to_the_returned_frames(tmp_path, understated):
    # With a wrong container frame count the video is resampled; faces must follow the final sample.
    path = tmp_path / ("understated.mkv" if understated else "clip.mp4")
    if understated:
        write_blocks_clip(path, 60, rate=1, pts_ms=[10 * i for i in range(60)])
    else:
        write_blocks_clip(path, 60)
    detector = MeanDetector()
    result = extract_video_faces(path, detector, num_frames=10, size=16)
    sample = sample_frames(path, num_frames=10)
    assert result.frame_indices == sample.indices and sample.frame_count == 60
    assert result.frames is None  # not kept unless asked
    assert [f.frame_index for f in result.faces] == sample.indices
    assert [f.confidence for f in result.faces] == pytest.approx(
        [frame.mean() for frame in sample.frames]
    )
    if not understated:
        assert detector.calls == [5, 5]  # two batches, the first while the rest was decoding


def test_detector_failure_propagates_and_stops_the_decoding_thread(tmp_path):
    path = tmp_path / "clip.mp4"
    write_blocks_clip(path, 40)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="detector broke"):
        extract_video_faces(path, MeanDetector(fail=True), num_frames=10)
    assert threading.active_count() == before
