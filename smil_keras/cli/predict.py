"""`smil predict`: score videos end to end with a saved detector."""

import argparse
import json
import logging
import pathlib
import sys

EPILOG = """\
examples:
  smil predict clip.mp4 --model runs/smil/best.keras
  smil predict videos/ more.mp4 --model best.keras --json scores.json --frames 20
  smil predict clip.mp4 --model best.keras --visualize explain/ --gradcam-faces 3

Folders are searched for video files. Each video gets a status: "ok", "no_faces" (no face in
the sampled frames; null probability) or "error" (unreadable; the reason is given). The batch
always goes on; the exit status is 1 when any video had an error.

--json writes a list with one object per video:
  {"video", "status", "fake_probability", "label", "faces": [{"frame", "box" [x, y, w, h],
   "fake_probability", "attention"}, ...]}   (+ "reason" for errors)
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
    parser.add_argument("--frames", type=int, default=20, help="frames sampled per video (20)")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="probability from which a video is fake (0.5)"
    )
    parser.add_argument(
        "--visualize", metavar="DIR", help="write frames with scored boxes and Grad-CAM maps here"
    )
    parser.add_argument(
        "--gradcam-faces", type=int, default=3,
        help="Grad-CAM maps for this many faces with the highest attention (default 3)",
    )
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        videos = collect_videos(args.videos)
        from smil_keras.evaluation import VideoPredictor, load_detector

        predictor = VideoPredictor(
            load_detector(args.model), num_frames=args.frames, threshold=args.threshold
        )
    except (OSError, ValueError) as error:
        print(f"smil predict: error: {error}", file=sys.stderr)
        return 1
    results = predictor.predict_many(videos, args.visualize, args.gradcam_faces)
    print(format_results(results))
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 1 if any(result["status"] == "error" for result in results) else 0


def collect_videos(inputs):
    """Video paths from files and folders; a missing path or a folder without videos is an error."""
    from smil_keras.bags import find_videos

    videos = []
    for item in inputs:
        found = find_videos(item)
        if pathlib.Path(item).is_dir() and not found:
            raise FileNotFoundError(f"no video files in folder {item}")
        videos.extend(path for path, _ in found)
    return videos


def format_results(results):
    """A plain-text table: one line per video, then its faces' scores in brief."""
    width = max(len("video"), *(len(pathlib.Path(r["video"]).name) for r in results))
    lines = [f"{'video':<{width}}  {'status':<8}  {'fake prob':>9}  {'label':<5}  faces"]
    for result in results:
        probability = result["fake_probability"]
        lines.append(
            f"{pathlib.Path(result['video']).name:<{width}}  {result['status']:<8}  "
            f"{'-' if probability is None else f'{probability:.4f}':>9}  "
            f"{result['label'] or '-':<5}  {len(result['faces'])}"
            + (f"  ({result['reason']})" if "reason" in result else "")
        )
    return "\n".join(lines)
