"""Person-aware bags against frame order on multi-person partial attacks (issue 17 §4).

The data are the library's synthetic attacks across people (`make_partial_attack_dataset(...,
one_person=True)`): in each fake clip one person is forged by self-blending in every frame
where they appear and everybody else is left real; real clips are untouched. They are built
from the **real** multi-person media of the shared fixtures (`../shared/fixtures`): the
Hamilton clip and the facenet-pytorch crowd video, and six group photos (animated into clips
that show all their people). Each medium gives `--clips` clips, half of them fake, once; the
seeds then differ in the split and in training.

**Split by identity**: the media are grouped as in `partial_attacks.py` (`IDENTITIES`, one
medium per group here); for each seed a third of the groups, drawn at random
(`partial_attacks.split_identities`), gives the test clips and the rest the training clips,
so test clips show people never seen in training.

S-MIL-T (tiny backbone, small mode, CPU) is trained twice on the same clips with the same seed:
with **person order** (`TrainConfig(persons=True)`: faces person by person, time order within
a person, with person ids, so the temporal convolutions never mix two people) and with **frame
order** (`persons=False`, the faces of two people alternating). It is evaluated by
`smil_keras.evaluation.evaluate` on the held-out clips three ways:

- `person order`: the person-order model, bags scored person by person (`persons=True`);
- `frame order`: the frame-order model on frame-order bags (as trained; no per-person verdict);
- `frame order, scored by person`: the frame-order model given person order and ids at test
  time, which gives it per-person verdicts.

Reported (mean +- std over seeds): person accuracy (the mean of the accuracies on real and on
fake persons; a person, a track of the bag, is fake if any of their faces is forged) and
person AUC of the per-person verdicts (`explain_model`'s ``"person_probability"``); `named`:
the share of fake test videos with a real and a forged person whose highest-scored person is
a forged one (`chance`: the share of forged persons among their persons, what picking one at
random names); video accuracy, video AUC, frame AUC.

Usage:
    python benchmarks/person_bags.py --quick --out /tmp/pb_quick
    python benchmarks/person_bags.py --seeds 3 --out /tmp/pb_small
"""

import argparse
import collections
import json
import pathlib
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from partial_attacks import (  # noqa: E402
    FIXTURES,
    IDENTITIES,
    _cell,
    small_mode_config,
    split_identities,
)

# Identity group (as in `partial_attacks.IDENTITIES`) -> its medium showing several people.
PERSON_MEDIA = {
    "hamilton cast": "videos/real/face_recognition__short_hamilton_clip.mp4",
    "crowd (facenet-pytorch)": "videos/real/facenet_pytorch__video.mp4",
    "Obama and Biden": "images/face_recognition/two_people.jpg",
    "Harington and Leslie": "images/face_recognition/kit_with_rose.jpg",
    "multiface": "images/facenet_pytorch/multiface.jpg",
    "dlib 2008_002506": "images/dlib/2008_002506.jpg",
    "dlib 2009_004587": "images/dlib/2009_004587.jpg",
    "dlib 2007_007763": "images/dlib/2007_007763.jpg",
}
# --quick: four photos of two or three people (no video decoding).
QUICK_GROUPS = ("Obama and Biden", "Harington and Leslie", "dlib 2008_002506", "dlib 2009_004587")
ROWS = ("person order", "frame order", "frame order, scored by person")
COLUMNS = (
    ("person_accuracy", "person accuracy"),
    ("person_auc", "person AUC"),
    ("named", "named"),
    ("chance", "named by chance"),
    ("all", "video accuracy"),
    ("auc", "video AUC"),
    ("frame_auc", "frame AUC"),
)


def build_groups(groups, args, detector):
    """`{group: PartialAttackDataset}`: `--clips` clips of each group's medium, half fake."""
    from smil_keras.datasets import make_partial_attack_dataset

    data = {}
    for index, group in enumerate(groups):
        item = PERSON_MEDIA[group]
        assert item in IDENTITIES[group], (group, item)  # the groups of partial_attacks.py
        path = pathlib.Path(args.fixtures) / item
        if not path.is_file():
            raise FileNotFoundError(f"fixture not found: {path}")
        data[group] = make_partial_attack_dataset(
            pathlib.Path(args.out) / "data" / f"group{index}",
            source=str(path),
            num_videos=args.clips,
            num_frames=args.frames,
            fake_fraction=0.5,
            seed=index,
            size=args.frame_size,
            crop_size=args.image_size,
            detector=detector,
            one_person=True,
        )
    return data


def describe(shards):
    """Counts of the bags' persons (tracks) by label: real, fake, unknown, and the fake ones
    holding real faces too (the tracker joined a forged part of a person to a real part)."""
    from smil_keras.bags import read_bags

    counts = collections.Counter()
    for bag in read_bags(shards):
        counts["clips"] += 1
        tracks = collections.defaultdict(set)
        for track, label in zip(bag.track_ids, bag.face_labels, strict=True):
            tracks[track].add(int(label))
        for labels in tracks.values():
            counts["fake" if 1 in labels else "real" if 0 in labels else "unknown"] += 1
            counts["mixed"] += {0, 1} <= labels
    return dict(counts)


def train(shards, run_dir, persons, args, seed):
    from smil_keras.training import train as train_detector

    config = small_mode_config(
        shards,
        run_dir,
        epochs=args.epochs,
        seed=seed,
        variant="s-mil-t",
        backbone="tiny",
        image_size=args.image_size,
        model_kwargs={"filters": args.filters},
        batch_size=args.batch_size,
        instances=args.instances,
        learning_rate=args.learning_rate,
        persons=persons,
    )
    return train_detector(config).model


def naming(scores):
    """`(named, chance)` over the fake videos with a real and a forged person: the share whose
    highest-scored person is forged, and the mean share of forged persons among their persons."""
    from smil_keras.evaluation import person_labels

    named, chance = [], []
    for face_labels, ids, probabilities in zip(
        scores.face_labels, scores.person_ids, scores.person_probabilities, strict=True
    ):
        labels = person_labels(face_labels, ids)
        if (labels == 1).any() and (labels == 0).any():
            named.append(labels[int(np.argmax(probabilities))] == 1)
            chance.append(np.mean(labels == 1))
    return (float(np.mean(named)), float(np.mean(chance))) if named else (np.nan, np.nan)


def run_seed(seed, data, args):
    """Splits the groups, trains both orders, evaluates; returns the seed's rows and counts."""
    from smil_keras.evaluation import evaluate

    work = pathlib.Path(args.out) / f"seed{seed}"
    shutil.rmtree(work, ignore_errors=True)
    train_groups, test_groups = split_identities(tuple(data), seed)
    train_shards = [s for g in train_groups for s in data[g].shards]
    test_shards = [s for g in test_groups for s in data[g].shards]
    models = {}
    for name, persons in (("person order", True), ("frame order", False)):
        began = time.time()
        models[name] = train(train_shards, work / f"run_{persons}", persons, args, seed)
        print(f"seed {seed}: {name} trained in {time.time() - began:.0f} s", flush=True)
    by_person = evaluate(
        {"person order": models["person order"], ROWS[2]: models["frame order"]},
        test_shards,
        out_dir=work / "eval_persons",
        progress=False,
        persons=True,
    )
    by_frame = evaluate(
        {"frame order": models["frame order"]},
        test_shards,
        out_dir=work / "eval_frames",
        progress=False,
    )
    rows = {row["model"]: row for row in by_person["metrics"] + by_frame["metrics"]}
    for name, scores in by_person["scores"].items():
        rows[name]["named"], rows[name]["chance"] = naming(scores)
    return {
        "train": train_groups,
        "test": test_groups,
        "train_bags": describe(train_shards),
        "test_bags": describe(test_shards),
        "rows": [{key: rows[name].get(key) for key in ("model", *dict(COLUMNS))} for name in ROWS],
    }


def results_table(results):
    """Markdown: a row per way of ordering, each column mean +- std over seeds."""
    lines = [
        "| S-MIL-T | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name in ROWS:
        rows = [row for seed in results for row in seed["rows"] if row["model"] == name]
        cells = [_cell([row[key] for row in rows]) for key, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    """Runs the benchmark; returns `{"seeds": [run_seed results], "table": markdown}` and
    writes them under `--out`.

    Example: `main(["--quick", "--out", "/tmp/pb_quick"])`.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=str(FIXTURES), help="the shared fixtures folder")
    parser.add_argument("--out", default="person_bags_results", help="output folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds, each its own split (3)")
    parser.add_argument("--clips", type=int, default=16, help="clips per medium (16)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (8)")
    parser.add_argument("--frame-size", type=int, default=320, help="clip frame side (320)")
    parser.add_argument("--image-size", type=int, default=64, help="face crop side (64)")
    parser.add_argument("--instances", type=int, default=16, help="faces per training bag (16)")
    parser.add_argument("--filters", type=int, default=32, help="S-MIL filters r (32)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (20)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos per batch (8)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam rate (2e-3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 photos, 1 seed")
    args = parser.parse_args(argv)
    groups = tuple(PERSON_MEDIA)
    if args.quick:
        groups = QUICK_GROUPS
        args.seeds, args.clips, args.frames, args.instances = 1, 4, 3, 6
        args.image_size, args.frame_size, args.epochs, args.filters = 32, 192, 1, 8
    if not pathlib.Path(args.fixtures).is_dir():
        parser.error(f"fixtures folder not found: {args.fixtures}")

    from smil_keras.faces import MTCNNDetector

    start = time.time()
    data = build_groups(groups, args, MTCNNDetector())
    print(f"data: {len(groups)} media x {args.clips} clips in {time.time() - start:.0f} s")
    results = [run_seed(seed, data, args) for seed in range(args.seeds)]
    table = results_table(results)
    print(
        f"\nOne person forged in multi-person clips (S-MIL-T, tiny backbone, {args.image_size} "
        f"px, {args.frames} frames, {args.instances} faces per training bag, {args.epochs} "
        f"epochs, {args.seeds} seed(s) = identity splits, {time.time() - start:.0f} s)"
    )
    for seed, result in enumerate(results):
        print(
            f"seed {seed}: train {', '.join(result['train'])} {result['train_bags']}; "
            f"test {', '.join(result['test'])} {result['test_bags']}"
        )
    print("\n" + table)
    out = pathlib.Path(args.out)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\ntable and per-seed runs: {out}")
    return {"seeds": results, "table": table}


if __name__ == "__main__":
    main()
