"""`smil predict`: score videos end to end with a saved detector."""

import argparse
import json
import logging
import os
import pathlib
import sys

from smil_keras.cli import console

EPILOG = """\
examples:
  smil predict clip.mp4 --model runs/smil/best.keras
  smil predict videos/ more.mp4 --model best.keras --json scores.json --frames 20
  smil predict clip.mp4 --model best.keras --visualize explain/ --gradcam-faces 3
  smil predict videos/ --model serving/smil/1 --out scores.jsonl
  smil predict dfdc/ --model best.keras --out scores.jsonl --engine ray --address auto --workers 64

Folders are searched for video files. --model is a .keras detector or a SavedModel folder from
smil export. Faces are cut as the detector was trained to see them (its view: image size and
margin, saved with the model). Each video gets a status: "ok", "no_faces" (no face in the
sampled frames: a null probability, not a failure) or "error" (unreadable). Videos without a
score are listed on stderr with the reason; the batch always goes on. Exit status: 0 when every
video was read, 1 when any had an error, 2 for a fatal error (missing video or model, not a
detector, Ray workers that cannot start).

--json writes a list with one object per video (+ "reason" when status is not "ok"):
  {"video", "status", "fake_probability", "label",
   "faces": [{"frame", "box" [x, y, w, h], "fake_probability", "attention", "person"}, ...],
   "persons": [{"person", "frames", "fake_probability", "label", "face_probabilities",
                "attention"}, ...]}
People are the faces' tracks (linked by position and appearance), numbered in order of first
appearance. The video is scored on its faces person by person (S-MIL-T never convolves across
two people); a person's fake probability is the detector on that person's faces alone. The
table shows each person under their video; --visualize boxes each person in their own colour.

--out writes the same objects to a JSON Lines file, one line per video as soon as it is scored
(in the order the videos finish). Running again resumes: videos already in the file are
skipped; delete a video's line to score it again. --engine ray scores on a Ray cluster
(pip install "smil-keras[ray]"): --workers actors, each loading the model once; it needs --out,
and videos, model and --out must be paths every node sees.
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="score videos with a trained detector",
        description="Score videos end to end (frames -> faces -> detector) and explain each score "
        "with per-face fake probabilities and S-MIL attention weights.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders")
    parser.add_argument(
        "--model",
        required=True,
        help="a .keras detector (runs/smil/best.keras) or a SavedModel folder from smil export",
    )
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
    parser.add_argument(
        "--out",
        metavar="JSONL",
        help="append one JSON line per video as it is scored; videos already there are skipped",
    )
    parser.add_argument(
        "--frames", type=console.positive_int, default=20, help="frames sampled per video (20)"
    )
    parser.add_argument(
        "--threshold",
        type=console.probability,
        default=0.5,
        help="probability from which a video is fake (0.5)",
    )
    parser.add_argument(
        "--visualize", metavar="DIR", help="write frames with scored boxes and Grad-CAM maps here"
    )
    parser.add_argument(
        "--gradcam-faces",
        type=console.non_negative_int,
        default=3,
        help="Grad-CAM maps for this many faces with the highest attention (default 3)",
    )
    parser.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process; ray: a Ray cluster (--workers actors; needs --out)",
    )
    parser.add_argument(
        "--workers",
        type=console.positive_int,
        default=1,
        help="with --engine ray: Ray actors, one CPU each (default: 1)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=console.non_negative_float,
        default=0.0,
        help="with --engine ray: GPUs each actor takes (default: 0, CPU only)",
    )
    parser.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="with --engine ray: the Ray cluster to join (default: start a local one)",
    )
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("smil_keras.evaluation.score_videos").setLevel(logging.INFO)  # resuming
    try:  # checked before TensorFlow is imported: a wrong path is answered at once
        check_arguments(args)
        videos = collect_videos(args.videos)
        if args.out:
            results = score(args, videos)
        else:
            from smil_keras.evaluation import VideoPredictor, load_scoring_model

            predictor = VideoPredictor(
                load_scoring_model(args.model), num_frames=args.frames, threshold=args.threshold
            )
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        console.print_error("predict", error)
        return console.FATAL
    if args.out:
        print(summary(results, args.out))
    else:
        results = predictor.predict_many(videos, args.visualize, args.gradcam_faces)
        print(format_results(results))
    unscored = [result for result in results if result["status"] != "ok"]
    if unscored:
        print(f"{len(unscored)} of {len(results)} videos have no score:", file=sys.stderr)
        for result in unscored:
            print(f"  {result['video']}: {result['status']}: {result['reason']}", file=sys.stderr)
    if args.json:
        path = pathlib.Path(args.json)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            console.print_error("predict", f"cannot write --json {path}: {error}")
            return console.FATAL
        print(f"wrote {path}")
    failed = any(result["status"] == "error" for result in results)
    return console.SOME_FAILED if failed else console.OK


def check_arguments(args):
    """Raises `ValueError` for options that do not go together, then `OSError` / `ValueError`
    for missing paths."""
    if args.engine == "ray" and not args.out:
        raise ValueError("--engine ray writes its results to --out FILE.jsonl; give --out")
    if args.engine != "ray":
        for option, given in (
            ("--workers", args.workers != 1),
            ("--gpus-per-worker", args.gpus_per_worker != 0),
            ("--address", args.address is not None),
        ):
            if given:
                raise ValueError(f"{option} is for --engine ray")
    console.check_inputs_exist(args.videos, "video")
    check_model(args.model)
    console.check_output_file(args.json, "--json")
    console.check_output_file(args.out, "--out")
    console.check_output_folder(args.visualize, "--visualize")
    if os.path.isdir(args.model) and args.visualize and args.gradcam_faces:
        raise ValueError(
            "Grad-CAM maps need the .keras detector, not a SavedModel: give the .keras file, "
            "or --gradcam-faces 0"
        )


def check_model(path):
    """A `.keras` file, or a folder holding a SavedModel (`saved_model.pb`)."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(
            f"{path} is a folder without saved_model.pb: expected a .keras file or a SavedModel "
            "folder from smil export"
        )
    if not os.path.isdir(path):
        console.check_model_file(path)


def score(args, videos):
    """`score_videos` into `--out` (a `RuntimeError` when Ray workers cannot start)."""
    from smil_keras.evaluation import score_videos

    return score_videos(
        videos,
        args.model,
        args.out,
        engine=args.engine,
        workers=args.workers,
        address=args.address,
        num_frames=args.frames,
        threshold=args.threshold,
        visualize_dir=args.visualize,
        gradcam_faces=args.gradcam_faces,
        gpus_per_worker=args.gpus_per_worker,
        worker_logs=getattr(args, "verbose", False) or console.verbose_from_env(),
    )


def summary(results, out):
    """One line: how many videos were scored, without faces, failed; where they are."""
    counts = {
        status: sum(result["status"] == status for result in results)
        for status in ("ok", "no_faces", "error")
    }
    return (
        f"{len(results)} videos: {counts['ok']} scored, {counts['no_faces']} without faces, "
        f"{counts['error']} errors (one JSON line each in {out})"
    )


def collect_videos(inputs):
    """Video paths from files and folders; a missing path or a folder without videos is an error."""
    from smil_keras.bags import find_videos

    videos = []
    for item in inputs:
        found = find_videos(item)
        if os.path.isdir(item) and not found:
            raise FileNotFoundError(f"no video files in folder {item}")
        videos.extend(path for path, _ in found)
    return videos


def format_results(results):
    """A plain-text table: one line per video (its file name), then one per person in it (their
    fake probability, faces and the frames where they appear)."""
    rows = []
    for result in results:
        video = (pathlib.Path(result["video"]).name, result["status"], result["fake_probability"])
        rows.append((*video, result["label"], len(result["faces"]), ""))
        for person in result.get("persons", ()):  # none in results written before people
            name, frames = f"  person {person['person']}", person["frames"]
            probability, label = person["fake_probability"], person["label"]
            rows.append((name, "", probability, label, len(frames), _frames_text(frames)))
    width = max(len("video"), *(len(row[0]) for row in rows))
    lines = [f"{'video':<{width}}  {'status':<8}  {'fake prob':>9}  {'label':<5}  faces  frames"]
    for name, status, probability, label, faces, frames in rows:
        lines.append(
            f"{name:<{width}}  {status:<8}  "
            f"{'-' if probability is None else f'{probability:.4f}':>9}  "
            f"{label or '-':<5}  {faces:>5}  {frames}".rstrip()
        )
    return "\n".join(lines)


def _frames_text(frames, most=8):
    """Frame indices, the middle ones elided past `most`: `0, 30, 60, ..., 570`."""
    shown = [str(frame) for frame in frames]
    if len(shown) > most:
        shown = [*shown[: most - 2], "...", shown[-1]]
    return ", ".join(shown)
