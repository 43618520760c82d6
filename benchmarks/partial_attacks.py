"""Fig. 6 and Table 1 in miniature: seven variants on partial attacks of real faces (issue 18 §2).

The data are the library's synthetic partial attacks (`make_partial_attack_dataset`: faces
forged by self-blending in some frames, and in frames with several people for some people
only) built from the **real** videos and photos of the shared fixtures (`../shared/fixtures`)
and the embedded astronaut photo. Only real media are attacked: the fixtures' fake videos
(FF++ manipulated, DFDC fake) and fake frame are left out. Photos are animated into clips
(camera shake, zoom, lighting drift, JPEG); videos give their own frames.

**Split by identity**: the media are grouped by the people they show (`IDENTITIES`: Obama's
three photos and the photo of him with Biden are one group, the Hamilton clip with Lin-Manuel
Miranda's and Alex Lacamoire's photos another, ...); for each seed a third of the groups, drawn
at random, gives the test clips and the rest the training clips, so no person is in both.
Every medium gives the same number of clips, half of them attacked (`build_split`): who is in a
clip says nothing about its label.

Every variant (s-mil, s-mil-t, mil, att-mil, xn-avg, xn-max, lstm) is trained alike by the
library's trainer (`smil_keras.training.train`, same data, backbone, epochs, learning rate,
seed) and evaluated by `smil_keras.evaluation.evaluate` on the held-out clips: the paper's video
accuracy (the mean of the accuracies on real and on fake videos), video AUC, frame AUC
(per-face scores against per-face labels), and the accuracy per bin of the fraction of fake
faces in a video (Fig. 6). Mean +- std over seeds; Fig. 6 pools the videos of all seeds.

Modes:
- small (default): tiny backbone, 64 px faces, CPU;
- `--backbone xception --image-size 299` (a lent GPU): from scratch, since ImageNet weights
  cannot be downloaded there (`weights="imagenet"` stays the path for users who can);
- `--quick`: a smoke run on a few photos (one seed, one epoch), for the test suite.

Writes to `--out`: `metrics.md` / `fake_fraction.md` (the tables), `partial_attacks.png` (AUC
and accuracy per variant, accuracy per fake-fraction bin), `results.json`, and per seed the
data, runs and evaluation. Results and their reading: `benchmarks/RESULTS.md`, section 10.

Usage:
    python benchmarks/partial_attacks.py --quick --out /tmp/pa_quick
    python benchmarks/partial_attacks.py --seeds 3 --out /tmp/pa_small
"""

import argparse
import json
import pathlib
import shutil
import time

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
VARIANTS = ("s-mil", "s-mil-t", "mil", "att-mil", "xn-avg", "xn-max", "lstm")
ASTRONAUT = "astronaut"  # the embedded photo, written to the work folder as a PNG

# People -> the real media showing them (paths under the fixtures folder).
IDENTITIES = {
    "hamilton cast": [
        "videos/real/face_recognition__short_hamilton_clip.mp4",
        "images/face_recognition/lin-manuel-miranda.png",
        "images/face_recognition/alex_lacamoire_img1.jpg",
    ],
    "crowd (facenet-pytorch)": ["videos/real/facenet_pytorch__video.mp4"],
    "DFDC lynaeydofd": [
        "videos/dfdc/real/lynaeydofd.mp4",
        "images/dfdc_frames/lynaeydofd_fr0_REAL.jpg",
    ],
    "FF++ 519": ["videos/ffpp/original_sequences/youtube/c23/videos/519.mp4"],
    "FF++ 634": ["videos/ffpp/original_sequences/youtube/c23/videos/634.mp4"],
    "Obama and Biden": [
        "images/face_recognition/obama.jpg",
        "images/face_recognition/obama_small.jpg",
        "images/face_recognition/biden.jpg",
        "images/face_recognition/two_people.jpg",
    ],
    "Harington and Leslie": [
        "images/face_recognition/kit_harington_john1.jpeg",
        "images/face_recognition/rose_leslie_img1.jpg",
        "images/face_recognition/kit_with_rose.jpg",
    ],
    "Jolie": [
        "images/facenet_pytorch/angelina_jolie_1.jpg",
        "images/facenet_pytorch/aligned_160/angelina_jolie.png",
    ],
    "Rudd": [
        "images/facenet_pytorch/paul_rudd_1.jpg",
        "images/facenet_pytorch/aligned_160/paul_rudd.png",
    ],
    "Cooper": ["images/facenet_pytorch/aligned_160/bradley_cooper.png"],
    "Siegel": ["images/facenet_pytorch/aligned_160/kate_siegel.png"],
    "Whigham": ["images/facenet_pytorch/aligned_160/shea_whigham.png"],
    "multiface": ["images/facenet_pytorch/multiface.jpg"],
    "Ivan (mtcnn)": ["images/mtcnn/ivan.jpg"],
    "Cruise": ["images/dlib/Tom_Cruise_avp_2014_4.jpg"],
    "dlib 2008_002506": ["images/dlib/2008_002506.jpg"],
    "dlib 2009_004587": ["images/dlib/2009_004587.jpg"],
    "dlib 2007_007763": ["images/dlib/2007_007763.jpg"],
    "astronaut (embedded)": [ASTRONAUT],
}
# --quick: photos only (no video decoding), two groups per split.
QUICK_IDENTITIES = ("Obama and Biden", "Harington and Leslie", "Jolie", "Rudd", "Cooper", "Siegel")
FAKE_FRACTION_BINS = 5  # bins of 0.2: edges exact in the tables' one-decimal labels


def split_identities(names, seed, test_share=1 / 3):
    """`(train, test)` lists of identity names: a random `test_share` of them (at least one)
    for testing, the others for training."""
    order = list(np.random.default_rng(seed).permutation(sorted(names)))
    count = max(1, round(len(order) * test_share))
    return sorted(order[count:]), sorted(order[:count])


def media(names, fixtures, work):
    """The files of the identities `names` (the embedded photo written to `work` as a PNG)."""
    paths = []
    for name in names:
        for item in IDENTITIES[name]:
            if item == ASTRONAUT:
                paths.append(_astronaut_png(work))
            else:
                path = pathlib.Path(fixtures) / item
                if not path.is_file():
                    raise FileNotFoundError(f"fixture not found: {path}")
                paths.append(str(path))
    return paths


def _astronaut_png(work):
    import cv2
    import skimage.data

    path = pathlib.Path(work) / "astronaut.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return str(path)


def build_split(work, names, clips_per_medium, args, seed, detector):
    """The clips of the identities `names`: `clips_per_medium` of every medium, half of them
    partially attacked (one `make_partial_attack_dataset` per medium, in `work/mediumNN`).

    Every medium, hence every person, gives as many real clips as fake ones, as in FF++ and
    DFDC, where each person appears real and forged. Drawn at random over all media instead,
    a person's share of fake clips varied from 1/6 to 5/5, and a network learnt who tends to be
    fake rather than how a forgery looks (`benchmarks/RESULTS.md`, section 10)."""
    from smil_keras.datasets import PartialAttackDataset, make_partial_attack_dataset

    entries, shards = [], []
    for index, path in enumerate(media(names, args.fixtures, work.parent)):
        data = make_partial_attack_dataset(
            work / f"medium{index:02d}",
            source=[path],
            num_videos=clips_per_medium,
            num_frames=args.frames,
            fake_fraction=0.5,
            seed=seed * 100 + index,
            size=args.frame_size,
            crop_size=args.image_size,
            detector=detector,
        )
        entries.extend(data.entries)
        shards.extend(data.shards)
    return PartialAttackDataset(str(work), entries, shards)


def small_mode_config(train_data, run_dir, *, epochs, seed, **fields):
    """The `TrainConfig` of this benchmark and `person_bags.py`: from scratch (`weights=None`),
    a constant rate, no random crop, and the model after the last epoch (`restore_best=False`,
    monitored on the training loss: no choice made on any data). `fields`: the rest."""
    from smil_keras.training import TrainConfig

    return TrainConfig(
        train_data=train_data,
        run_dir=str(run_dir),
        weights=None,
        epochs=epochs,
        lr_decay_every=epochs,  # a constant rate
        random_crop=False,
        monitor="loss",
        monitor_mode="min",
        restore_best=False,
        seed=seed,
        **fields,
    )


def train_variant(variant, shards, run_dir, args, seed):
    from smil_keras.training import train

    config = small_mode_config(
        shards,
        run_dir,
        epochs=args.epochs,
        seed=seed,
        variant=variant,
        backbone=args.backbone,
        image_size=args.image_size,
        model_kwargs={"filters": args.filters, "attention_units": 32, "lstm_units": 32},
        batch_size=args.batch_size,
        instances=args.frames,
        learning_rate=args.learning_rate,
    )
    return train(config).model


def run_seed(seed, identities, args, detector):
    """Builds the seed's split, trains every variant, evaluates them; returns
    `{"train": [...], "test": [...], "metrics": rows, "fake_fraction": rows}`."""
    from smil_keras.evaluation import evaluate, fake_fraction_table

    work = pathlib.Path(args.out) / f"seed{seed}"
    shutil.rmtree(work, ignore_errors=True)
    train_names, test_names = split_identities(identities, seed)
    train_set = build_split(work / "train", train_names, args.train_clips, args, seed, detector)
    test_set = build_split(work / "test", test_names, args.test_clips, args, seed + 1000, detector)
    models = {}
    for variant in args.variants:
        began = time.time()
        models[variant] = train_variant(
            variant, train_set.shards, work / f"run_{variant}", args, seed
        )
        print(f"seed {seed}: {variant} trained in {time.time() - began:.0f} s", flush=True)
    report = evaluate(models, test_set.shards, out_dir=work / "eval")
    fractions = fake_fraction_table(report["scores"], num_bins=FAKE_FRACTION_BINS)
    return {
        "train": train_names,
        "test": test_names,
        "train_clips": len(train_set.entries),
        "test_clips": len(test_set.entries),
        "metrics": report["metrics"],
        "fake_fraction": fractions,
    }


def _cell(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "n/a"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def metrics_table(results, variants):
    """Markdown: a row per variant, video accuracy / AUC / frame AUC, mean +- std over seeds."""
    lines = ["| variant | video accuracy | video AUC | frame AUC |", "|---|---|---|---|"]
    for variant in variants:
        rows = [r for seed in results for r in seed["metrics"] if r["model"] == variant]
        cells = [_cell([r[key] for r in rows]) for key in ("all", "auc", "frame_auc")]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pooled_fractions(results, variants):
    """`{variant: {bin: (accuracy, videos)}}`: Fig. 6's accuracy per bin, videos of every seed
    pooled."""
    pooled = {variant: {} for variant in variants}
    for seed in results:
        for row in seed["fake_fraction"]:
            correct, count = pooled[row["model"]].get(row["fake_fraction"], (0.0, 0))
            pooled[row["model"]][row["fake_fraction"]] = (
                correct + row["accuracy"] * row["videos"],
                count + row["videos"],
            )
    return {
        variant: {b: (c / n, n) for b, (c, n) in bins.items()} for variant, bins in pooled.items()
    }


def _bin_order(label):
    return -1.0 if label == "0" else float(label.strip("(]").split(",")[0])


def fraction_table(pooled, variants):
    """Markdown: accuracy per fake-fraction bin (rows: variants), videos per bin in the header."""
    bins = sorted({b for v in variants for b in pooled[v]}, key=_bin_order)
    counts = {b: max(pooled[v].get(b, (0, 0))[1] for v in variants) for b in bins}
    header = "| variant | " + " | ".join(f"{b} ({counts[b]} videos)" for b in bins) + " |"
    lines = [header, "|---|" + "---|" * len(bins)]
    for variant in variants:
        cells = [f"{pooled[variant][b][0]:.3f}" if b in pooled[variant] else "" for b in bins]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, pooled, variants, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    positions = np.arange(len(variants))
    for offset, (key, label) in zip(
        (-0.2, 0.2), (("auc", "video AUC"), ("all", "video accuracy")), strict=True
    ):
        values = [
            [r[key] for seed in results for r in seed["metrics"] if r["model"] == v]
            for v in variants
        ]
        left.bar(
            positions + offset,
            [np.mean(v) for v in values],
            width=0.4,
            yerr=[np.std(v) for v in values],
            capsize=3,
            label=label,
        )
    left.axhline(0.5, color="grey", lw=0.8, ls=":")
    left.set_xticks(positions, variants)
    left.set_ylim(0, 1.05)
    left.set_ylabel("held-out clips (mean ± std over seeds)")
    left.set_title("Table 1 in miniature")
    left.legend(loc="lower right", fontsize=8)
    bins = sorted({b for v in variants for b in pooled[v]}, key=_bin_order)
    for variant in variants:
        xs = [i for i, b in enumerate(bins) if b in pooled[variant]]
        right.plot(xs, [pooled[variant][bins[i]][0] for i in xs], marker="o", label=variant)
    right.set_xticks(range(len(bins)), bins)
    right.set_xlabel("fraction of fake faces in the video (0: real videos)")
    right.set_ylabel("accuracy (videos of all seeds)")
    right.set_ylim(-0.02, 1.02)
    right.set_title("Fig. 6 in miniature")
    right.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    """Runs the benchmark; returns `{"seeds": [run_seed results], "metrics": table,
    "fake_fraction": table}` and writes them under `--out`.

    Example: `main(["--quick", "--out", "/tmp/pa_quick"])`.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=str(FIXTURES), help="the shared fixtures folder")
    parser.add_argument("--out", default="partial_attacks_results", help="output folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds, each its own split (3)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="variants (all seven)")
    parser.add_argument(
        "--train-clips", type=int, default=6, help="training clips per medium, half fake (6)"
    )
    parser.add_argument(
        "--test-clips", type=int, default=6, help="test clips per medium, half fake (6)"
    )
    parser.add_argument("--frames", type=int, default=8, help="frames (faces) per clip (8)")
    parser.add_argument("--frame-size", type=int, default=320, help="clip frame side (320)")
    parser.add_argument("--backbone", default="tiny", help="tiny (default) or e.g. xception")
    parser.add_argument("--image-size", type=int, default=64, help="face crop side (64)")
    parser.add_argument("--filters", type=int, default=32, help="S-MIL filters r (32)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (20)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos per batch (8)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam rate (2e-3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: photos, 1 seed, 1 epoch")
    args = parser.parse_args(argv)
    args.variants = tuple(args.variants.split(","))
    identities = tuple(IDENTITIES)
    if args.quick:
        identities = QUICK_IDENTITIES
        args.seeds, args.train_clips, args.test_clips, args.frames = 1, 2, 2, 3
        args.image_size, args.frame_size, args.epochs, args.filters = 32, 160, 1, 8
    if not pathlib.Path(args.fixtures).is_dir():
        parser.error(f"fixtures folder not found: {args.fixtures}")

    from smil_keras.faces import MTCNNDetector

    detector = MTCNNDetector()
    start = time.time()
    results = [run_seed(seed, identities, args, detector) for seed in range(args.seeds)]
    pooled = pooled_fractions(results, args.variants)
    tables = {
        "metrics": metrics_table(results, args.variants),
        "fake_fraction": fraction_table(pooled, args.variants),
    }
    out = pathlib.Path(args.out)
    print(
        f"\nPartial attacks of real faces ({args.backbone} backbone, {args.image_size} px, "
        f"{args.frames} frames, {args.epochs} epochs, {args.seeds} seed(s) = identity splits, "
        f"{time.time() - start:.0f} s)"
    )
    for seed, result in enumerate(results):
        print(
            f"seed {seed}: {result['train_clips']} train clips of {', '.join(result['train'])}; "
            f"{result['test_clips']} test clips of {', '.join(result['test'])}"
        )
    print("\n" + tables["metrics"] + "\n\nAccuracy per fraction of fake faces (Fig. 6):\n")
    print(tables["fake_fraction"])
    (out / "metrics.md").write_text(tables["metrics"] + "\n")
    (out / "fake_fraction.md").write_text(tables["fake_fraction"] + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    plot(results, pooled, args.variants, out / "partial_attacks.png")
    print(f"\ntables, plot and per-seed runs: {out}")
    return {"seeds": results, **tables}


if __name__ == "__main__":
    main()
