"""Wall time of scoring a video end to end as `smil predict` does, by stage (issue 7, item 4).

Runs the library's own code path, `smil_keras.evaluation.VideoPredictor.predict` (what
`smil predict` calls per video), timing from outside the functions it calls:

- decode: `smil_keras.video.sample_frames` (OpenCV, every frame grabbed, the sampled ones
  converted to RGB), which `extract_video_faces` runs in a thread while the detector works;
- detect: the face detector's `detect` (MTCNN on the downscaled frames) and nothing else;
- crop: every `crop_face` call;
- faces: all of `extract_video_faces` (decode and detect overlapped, tracks, crops): the wall
  time to the bag of crops, less than decode + detect;
- model: the explainer (`explain_model(detector)`) on the bag of crops, outputs fetched to
  the host;
- other: the rest of `predict` (stacking the crops, building the result).

For each backbone a detector is built (`weights=None`: the weights do not change the time),
saved to a temporary `.keras` file and loaded with `load_detector`, as `smil predict --model`
does; the load and the MTCNN construction are reported apart ("load, once"). One untimed
`predict` warms everything up, then `--repeats` timed runs give the median of each stage.
Issue 7's target: under 10 s end to end on 2 CPU cores (after loading), under 1 s on a GPU.

    python benchmarks/predict_speed.py [--video V.mp4] [--frames 20] [--backbones xception tiny]

Any Keras backend: `KERAS_BACKEND=jax` on a GPU machine without TensorFlow runs MTCNN and the
detector on the GPU.
"""

import argparse
import contextlib
import inspect
import os
import pathlib
import statistics
import sys
import tempfile
import time
from unittest import mock

import keras

import smil_keras.faces
from smil_keras.evaluation import VideoPredictor, load_detector
from smil_keras.faces import MTCNNDetector
from smil_keras.models import build_detector

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import backend_description  # noqa: E402

FIXTURES = os.environ.get(  # as in tests/conftest.py
    "SMIL_FIXTURES", pathlib.Path(__file__).resolve().parents[2] / "shared" / "fixtures"
)
FIXTURE = pathlib.Path(FIXTURES) / "videos" / "dfdc" / "real" / "lynaeydofd.mp4"
STAGES = ("decode", "detect", "crop", "faces", "model")


class StageTimer:
    """Wraps functions so that each call adds its wall time to a stage's total."""

    def __init__(self):
        self.totals = dict.fromkeys(STAGES, 0.0)

    def wrap(self, stage, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.totals[stage] += time.perf_counter() - start

        return timed

    def reset(self):
        self.totals = dict.fromkeys(STAGES, 0.0)


@contextlib.contextmanager
def instrumented(predictor, timer):
    """Times the stage functions `VideoPredictor.predict` calls (same code, timed)."""
    extract_module = inspect.getmodule(smil_keras.faces.extract_faces)  # calls these functions
    predictor_module = inspect.getmodule(VideoPredictor)  # calls extract_video_faces
    explainer = predictor.explainer

    def explain(*args, **kwargs):  # fetched to the host here, so the time is the model's
        return keras.tree.map_structure(keras.ops.convert_to_numpy, explainer(*args, **kwargs))

    with (
        mock.patch.object(
            extract_module, "sample_frames", timer.wrap("decode", extract_module.sample_frames)
        ),
        mock.patch.object(
            predictor_module,
            "extract_video_faces",
            timer.wrap("faces", predictor_module.extract_video_faces),
        ),
        mock.patch.object(
            extract_module, "crop_face", timer.wrap("crop", extract_module.crop_face)
        ),
        mock.patch.object(
            predictor.face_detector, "detect", timer.wrap("detect", predictor.face_detector.detect)
        ),
        mock.patch.object(predictor, "explainer", timer.wrap("model", explain)),
    ):
        yield


def load_predictor(backbone, args, folder):
    """`(predictor, seconds)`: a saved detector loaded as `smil predict --model` loads it."""
    path = os.path.join(folder, f"{backbone}.keras")
    detector = build_detector("s-mil-t", backbone=backbone, image_size=args.image_size)
    detector.save(path)
    start = time.perf_counter()
    predictor = VideoPredictor(
        load_detector(path), MTCNNDetector(device=args.detector_device), num_frames=args.frames
    )
    return predictor, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--video",
        default=str(FIXTURE.resolve()),
        help="video to score (default: the 10 s 1080p DFDC fixture lynaeydofd.mp4)",
    )
    parser.add_argument("--frames", type=int, default=20, help="frames sampled (default 20)")
    parser.add_argument("--backbones", nargs="+", default=["xception", "tiny"])
    parser.add_argument("--image-size", type=int, default=299, help="face crop side (default 299)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median is reported)")
    parser.add_argument(
        "--detector-device",
        default=None,
        help="device of MTCNN's networks, e.g. cpu:0 (default: the backend's "
        "placement, as `smil predict`: the GPU when there is one)",
    )
    args = parser.parse_args(argv)
    if not os.path.isfile(args.video):
        parser.error(f"video not found: {args.video}")

    timer = StageTimer()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for backbone in args.backbones:
            predictor, load_seconds = load_predictor(backbone, args, folder)
            with instrumented(predictor, timer):
                result = predictor.predict(args.video)  # warm-up: traces MTCNN and the model
                if result["status"] != "ok":
                    raise SystemExit(f"{args.video}: {result['status']} {result.get('reason', '')}")
                runs = []
                for _ in range(args.repeats):
                    timer.reset()
                    start = time.perf_counter()
                    predictor.predict(args.video)
                    total = time.perf_counter() - start
                    other = total - timer.totals["faces"] - timer.totals["model"]
                    runs.append({**timer.totals, "other": other, "total": total})
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            rows.append((backbone, load_seconds, len(result["faces"]), median))

    print(
        f"{pathlib.Path(args.video).name}: {args.frames} frames, crops {args.image_size} px, "
        f"{backend_description()}, {os.cpu_count()} CPU cores, MTCNN on "
        f"{args.detector_device or 'the default device'}, "
        f"median of {args.repeats} runs after one warm-up (seconds)\n"
    )
    print(
        "| backbone | faces | decode (thread) | detect | crop | decode ∥ detect + crop "
        "| model | other | **total** | load, once |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for backbone, load_seconds, faces, median in rows:
        stages = " | ".join(f"{median[key]:.3f}" for key in (*STAGES, "other"))
        print(
            f"| {backbone} | {faces} | {stages} | **{median['total']:.3f}** | {load_seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
