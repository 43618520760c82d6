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

Folders are searched for video files. Faces are cut as the detector was trained to see them
(its view: image size and margin, saved in the .keras file). Each video gets a status: "ok",
"no_faces" (no face in the sampled frames: a null probability, not a failure) or "error"
(unreadable). Videos without a score are listed on stderr with the reason; the batch always
goes on. Exit status: 0 when every video was read, 1 when any had an error, 2 for a fatal error
(missing video or model, not a detector).

--json writes a list with one object per video:
  {"video", "status", "fake_probability", "label", "faces": [{"frame", "box" [x, y, w, h],
   "fake_probability", "attention"}, ...]}   (+ "reason" when status is not "ok")
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
    parser.add_argument("--model", required=True, help="a .keras detector (runs/smil/best.keras)")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
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
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:  # checked before TensorFlow is imported: a wrong path is answered at once
        console.check_inputs_exist(args.videos, "video")
        console.check_model_file(args.model)
        console.check_output_file(args.json, "--json")
        console.check_output_folder(args.visualize, "--visualize")
        videos = collect_videos(args.videos)
        from smil_keras.evaluation import VideoPredictor, load_detector

        predictor = VideoPredictor(
            load_detector(args.model), num_frames=args.frames, threshold=args.threshold
        )
    except (OSError, ValueError) as error:
        console.print_error("predict", error)
        return console.FATAL
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
    """A plain-text table: one line per video (its file name), then its faces' scores in brief."""
    width = max(len("video"), *(len(pathlib.Path(r["video"]).name) for r in results))
    lines = [f"{'video':<{width}}  {'status':<8}  {'fake prob':>9}  {'label':<5}  faces"]
    for result in results:
        probability = result["fake_probability"]
        lines.append(
            f"{pathlib.Path(result['video']).name:<{width}}  {result['status']:<8}  "
            f"{'-' if probability is None else f'{probability:.4f}':>9}  "
            f"{result['label'] or '-':<5}  {len(result['faces'])}"
        )
    return "\n".join(lines)
