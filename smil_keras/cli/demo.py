"""`smil demo`: the whole workflow in minutes on a CPU, on embedded data or your videos."""

import argparse
import json
import logging
import pathlib
import shutil
import sys
import time

EPILOG = """\
examples:
  smil demo                        # embedded data (skimage's astronaut photo), minutes on 2 cores
  smil demo --out /tmp/smil_demo --epochs 4
  smil demo --videos my_videos/      # synthetic partial attacks on your own (real) videos

Steps: (1) build small train and test sets of real and partially attacked clips (faces forged
by self-blending in some frames only) and extract their faces to bag shards; (2) train an
S-MIL-T detector with a tiny backbone; (3) evaluate it (video accuracy and AUC, frame AUC);
(4) score one held-out video face by face. Everything is written under --out: data/, run/
(config, history, best.keras), eval/ (tables, plots), prediction.json and pictures/.
Rerunning replaces those folders.
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="run the whole workflow on a small synthetic dataset (minutes, CPU)",
        description="Build a small partially attacked dataset, extract faces, train, evaluate "
        "and score a held-out video, all on a CPU in a few minutes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="smil_demo", help="output folder (default smil_demo)")
    parser.add_argument("--videos", help="folder of real videos to attack (default: the photo)")
    parser.add_argument("--train-videos", type=int, default=48, help="training clips (48)")
    parser.add_argument("--test-videos", type=int, default=16, help="test clips (16)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (8)")
    parser.add_argument("--image-size", type=int, default=64, help="face crop side (64)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    start = time.time()
    out = pathlib.Path(args.out)
    try:
        if args.videos:
            from smil_keras.cli.predict import collect_videos

            collect_videos([args.videos])  # a clear error now for a folder without videos
        for name in ("data", "run", "eval", "pictures"):
            shutil.rmtree(out / name, ignore_errors=True)
        data = _build_data(args, out)
        model_path = _train(args, out, data["train"])
        _evaluate(out, model_path, data["test"])
        _predict(args, out, model_path, data["held_out"], data["test"])
    except (OSError, ValueError) as error:
        print(f"smil demo: error: {error}", file=sys.stderr)
        return 1
    print(f"\nDone in {time.time() - start:.0f} s. Everything is in {out}/")
    return 0


def _section(title):
    print(f"\n=== {title} ===", flush=True)


def _build_data(args, out):
    from smil_keras.datasets import make_partial_attack_dataset

    _section("1/4  Dataset: real clips and partially attacked ones, faces extracted to bag shards")
    source = args.videos or None
    print(f"source: {args.videos or 'skimage.data.astronaut() (embedded photo)'}")
    sets = {}
    for split, count, seed in (("train", args.train_videos, args.seed),
                               ("test", args.test_videos, args.seed + 1)):
        sets[split] = make_partial_attack_dataset(
            out / "data" / split, source=source, num_videos=count, num_frames=args.frames,
            seed=seed, crop_size=args.image_size,
        )
        if not sets[split].shards:
            raise ValueError(f"no faces found in the {split} clips of {out / 'data' / split}")
        fakes = sum(entry.label for entry in sets[split].entries)
        print(f"{split}: {len(sets[split].entries)} clips ({fakes} partially attacked), "
              f"bags in {out / 'data' / split / 'bags'}")
    fakes = [entry for entry in sets["test"].entries if entry.label == 1]
    held_out = (fakes or sets["test"].entries)[0]
    return {"train": sets["train"].shards, "test": sets["test"].shards, "held_out": held_out}


def _train(args, out, shards):
    from smil_keras.training import TrainConfig, train

    _section(f"2/4  Training S-MIL-T: tiny backbone, {args.image_size} px faces, "
             f"{args.epochs} epochs")
    config = TrainConfig(
        train_data=shards, run_dir=str(out / "run"), variant="s-mil-t", backbone="tiny",
        image_size=args.image_size, weights=None, model_kwargs={"filters": 32},
        epochs=args.epochs, batch_size=8, instances=min(8, args.frames), learning_rate=1e-3,
        lr_decay_every=max(1, args.epochs // 2), monitor="auc", seed=args.seed,
        random_crop=False,  # a tiny network from scratch on 48 clips learns unreliably with it
    )
    result = train(config)
    print(f"model: {result.best_model_path}")
    return result.best_model_path


def _evaluate(out, model_path, shards):
    from smil_keras.evaluation import evaluate, load_detector, markdown_table

    _section("3/4  Evaluation on the held-out test clips")
    report = evaluate({"S-MIL-T (tiny)": load_detector(model_path)}, shards,
                      out_dir=out / "eval")
    print(markdown_table(report["metrics"]))
    print("(accuracy: mean of the accuracies on real and on fake videos, as in the paper; "
          "frame_auc: per-face scores against per-face labels)")
    print(f"tables and plots: {out / 'eval'}")


def _predict(args, out, model_path, entry, shards):
    from smil_keras.cli.predict import format_results
    from smil_keras.evaluation import VideoPredictor, load_detector

    _section("4/4  Scoring a held-out video end to end (frames -> faces -> model)")
    predictor = VideoPredictor(load_detector(model_path), num_frames=args.frames)
    print(f"video: {entry.path} (truth: {'partially attacked' if entry.label else 'real'})")
    result = predictor.predict(entry.path, visualize_dir=out / "pictures", gradcam_faces=2)
    print(format_results([result]))
    truth = _face_truth(shards, entry.video_id)
    for face in result["faces"]:
        print(f"  frame {face['frame']:3d}  box {face['box']}  fake probability "
              f"{face['fake_probability']:.3f}  attention {face['attention']:.3f}  "
              f"truth {truth(face['frame'], face['box'])}")
    path = out / "prediction.json"
    path.write_text(json.dumps([result], indent=2) + "\n", encoding="utf-8")
    print(f"JSON: {path}   pictures (boxes, attention, Grad-CAM): {out / 'pictures'}")


def _face_truth(shards, video_id):
    """`(frame, box) -> "fake" / "real" / "?"` from the labelled bag of the video."""
    import numpy as np

    from smil_keras.bags import read_bags

    record = next((r for r in read_bags(shards) if r.video_id == video_id), None)

    def truth(frame, box):
        if record is None:
            return "?"
        candidates = np.flatnonzero(record.frame_indices == frame)
        if not len(candidates):
            return "?"
        centre = np.add(box[:2], np.divide(box[2:], 2))
        centres = record.boxes[candidates, :2] + record.boxes[candidates, 2:] / 2
        label = record.face_labels[candidates[np.argmin(np.abs(centres - centre).sum(axis=1))]]
        return {0: "real", 1: "fake"}.get(int(label), "?")

    return truth
