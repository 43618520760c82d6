"""Learning curves of the detector's seven heads on sequence bags of digits (issue 18, section 1).

A bag is a sequence of 20 scikit-learn digits (8x8, values in [0, 1]) in order, each degraded
(Gaussian noise, a random shift of up to one pixel) so that one instance alone says little; a
bag is positive when it holds the target digit (9). In positive bags the targets are a
*contiguous run* of k instances (k = 1, 2, 4, 8) at a random place, as a forged face is in
consecutive frames of a partially attacked video, or, with the same k, *scattered* at random
places, which isolates what temporal context adds. Negative bags hold no target. With the
default degradation (noise std 0.25, shifts of up to 1 pixel) a supervised classifier of single
instances reaches instance AUC 0.89-0.96, but its maximum over a bag only bag AUC 0.63 at k = 1.

Every head is built by the library's own detector-head code (`smil_keras.models.HEADS`, the
builders `SMILDetector` uses): s-mil, s-mil-t, mil (noisy-or), att-mil, xn-avg, xn-max, lstm,
each on its own instance encoder (Dense 64 relu -> Dense 32 relu, standing in for the face
backbone). All heads train side by side in one Keras model with one output each: they share
nothing but the batches, and since the loss is a sum of per-head terms over disjoint weights and
Adam updates each weight separately, each trains as it would alone. After every epoch we record,
on held-out bags drawn from the other half of the digits,

- bag AUC: the head's fake probability against the bag label;
- instance AUC: the head's per-instance probability (``face_probability``) against "is the
  target digit", over every instance of the held-out bags.

The ceiling is a supervised per-instance classifier (the same encoder and a sigmoid, trained on
the instance labels the MIL heads never see): its instance AUC says how informative one degraded
instance is, and the bag AUC of its maximum over the bag what instance-level knowledge alone
gives without temporal context.

Reported over seeds (mean +- std): the final bag and instance AUC, and the bag AUC averaged over
all epochs (the area under the learning curve: learning speed in one number). The curves go to
`--out` as `curves.json` and `mil_sequences.png` (one row per setting, bag and instance AUC
against the epoch). Results and their reading: `benchmarks/RESULTS.md`, section 9.

Usage:
    python benchmarks/mil_sequences.py --quick              # smoke run, seconds
    python benchmarks/mil_sequences.py                      # 5 seeds, 60 epochs, every setting
    python benchmarks/mil_sequences.py --runs 1,4 --arrangements contiguous --seeds 5
"""

import argparse
import collections
import json
import pathlib
import time

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from smil_keras.models import HEADS

TARGET_DIGIT = 9
BAG_LENGTH = 20
RUN_LENGTHS = (1, 2, 4, 8)
ARRANGEMENTS = ("contiguous", "scattered")
VARIANTS = tuple(HEADS)  # s-mil, s-mil-t, mil, att-mil, xn-avg, xn-max, lstm
# Head sizes for 32-dimensional instance embeddings; each builder takes the ones it uses.
HEAD_SETTINGS = {
    "filters": 32,
    "kernel_sizes": (1, 2, 3),
    "attention_units": 32,
    "gated": False,
    "lstm_units": 32,
}
NOISE, SHIFT = 0.25, 1  # supervised instance AUC 0.89-0.96 (k = 1-8); max over a bag 0.63 at k = 1
BATCH_SIZE = 20
LEARNING_RATE = 1e-3

Setting = collections.namedtuple("Setting", ["arrangement", "run"])


def head_builder(variant):
    """The library's builder of ``variant``'s head (`smil_keras.models.HEADS`, what
    `SMILDetector` uses): ``(embeddings, mask, **settings)`` -> ``{"fake_probability",
    "face_probability", "attention"}``."""
    return HEADS[variant]


def settings_for(runs, arrangements):
    """The (arrangement, k) pairs to run; scattered k = 1 is contiguous k = 1, so it is left out."""
    return [
        Setting(arrangement, run)
        for arrangement in arrangements
        for run in runs
        if not (arrangement == "scattered" and run == 1)
    ]


def degrade(images, rng, noise=NOISE, shift=SHIFT):
    """Each 8x8 image shifted by up to `shift` pixels (zero fill) plus Gaussian noise."""
    count = len(images)
    padded = np.pad(images.reshape(count, 8, 8), ((0, 0), (shift, shift), (shift, shift)))
    offsets = rng.integers(0, 2 * shift + 1, size=(count, 2))
    out = np.stack([padded[i, y : y + 8, x : x + 8] for i, (y, x) in enumerate(offsets)])
    return (out.reshape(count, 64) + rng.normal(0, noise, (count, 64))).astype("float32")


def make_sequence_bags(images, digits, num_bags, run, arrangement, rng, noise=NOISE, shift=SHIFT):
    """Half positive, half negative bags of `BAG_LENGTH` degraded digits in order.

    Positive bags hold exactly `run` target digits: consecutive (`"contiguous"`) or at random
    positions (`"scattered"`); the other instances are non-target digits drawn at random.

    Returns `(instances (N, L, 64), bag_labels (N,), instance_labels (N, L))`.
    """
    targets = np.flatnonzero(digits == TARGET_DIGIT)
    others = np.flatnonzero(digits != TARGET_DIGIT)
    chosen = rng.choice(others, size=(num_bags, BAG_LENGTH))
    instance_labels = np.zeros((num_bags, BAG_LENGTH), int)
    bag_labels = np.arange(num_bags) % 2
    for i in np.flatnonzero(bag_labels):
        if arrangement == "contiguous":
            start = rng.integers(0, BAG_LENGTH - run + 1)
            positions = np.arange(start, start + run)
        elif arrangement == "scattered":
            positions = rng.choice(BAG_LENGTH, size=run, replace=False)
        else:
            raise ValueError(f"arrangement must be one of {ARRANGEMENTS}, got {arrangement!r}")
        chosen[i, positions] = rng.choice(targets, size=run)
        instance_labels[i, positions] = 1
    instances = degrade(images[chosen.reshape(-1)], rng, noise, shift)
    order = rng.permutation(num_bags)
    instances = instances.reshape(num_bags, BAG_LENGTH, -1)
    return instances[order], bag_labels[order], instance_labels[order]


def _encoder(x, prefix):
    h = keras.layers.Dense(64, activation="relu", name=f"{prefix}encoder_1")(x)
    return keras.layers.Dense(32, activation="relu", name=f"{prefix}encoder_2")(h)


def _key(variant):
    return variant.replace("-", "_")


def build_models(variants, dim):
    """One training model (an output per head) and one scoring model (bag and instance
    probabilities per head). Each head sits in its own sub-model, so the layer names the
    builders give (``"pooling"``, ``"encoder"``) do not clash."""
    x_in = keras.Input((None, dim), name="instances")
    mask_in = keras.Input((None,), dtype="bool", name="mask")
    bags, instances = {}, {}
    for variant in variants:
        x = keras.Input((None, dim))
        mask = keras.Input((None,), dtype="bool")
        outputs = head_builder(variant)(_encoder(x, ""), mask, **HEAD_SETTINGS)
        head = keras.Model(
            [x, mask],
            [outputs["fake_probability"], outputs["face_probability"]],
            name=f"{_key(variant)}_head",
        )
        bag, instance = head([x_in, mask_in])
        bags[_key(variant)] = keras.layers.Identity(name=_key(variant))(bag)
        instances[_key(variant)] = instance
    inputs = {"instances": x_in, "mask": mask_in}
    return keras.Model(inputs, bags), keras.Model(inputs, {"bag": bags, "instance": instances})


Models = collections.namedtuple("Models", ["variants", "trainer", "scorer", "optimizer_state"])


def compiled_models(variants, dim):
    """The models, compiled once (tracing costs more than training), with the optimizer's
    initial state to restore before each run."""
    trainer, scorer = build_models(variants, dim)
    trainer.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss={key: "binary_crossentropy" for key in trainer.output_names},
    )
    trainer.optimizer.build(trainer.trainable_variables)
    state = [keras.ops.convert_to_numpy(v) for v in trainer.optimizer.variables]
    return Models(variants, trainer, scorer, state)


def _aucs(scorer, inputs, bag_labels, instance_labels, variants):
    scores = keras.tree.map_structure(keras.ops.convert_to_numpy, scorer(inputs))
    return {
        variant: (
            roc_auc_score(bag_labels, scores["bag"][_key(variant)][:, 0]),
            roc_auc_score(
                instance_labels.reshape(-1), scores["instance"][_key(variant)].reshape(-1)
            ),
        )
        for variant in variants
    }


def split_digits(seed):
    """Disjoint halves of scikit-learn's digits (train, test), stratified."""
    digits = load_digits()
    images = (digits.data / 16.0).astype("float32")
    return train_test_split(
        images, digits.target, test_size=0.5, stratify=digits.target, random_state=seed
    )


def run_once(models, setting, seed, epochs, num_bags, noise=NOISE, shift=SHIFT):
    """Trains every head from a fresh start; returns `{variant: (epochs, 2) array}` of bag and
    instance AUC after each epoch, and the supervised ceiling `(instance AUC, bag AUC of max)`."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    train_images, test_images, train_digits, test_digits = split_digits(seed)
    x, y, labels = make_sequence_bags(
        train_images, train_digits, num_bags, setting.run, setting.arrangement, rng, noise, shift
    )
    x_test, y_test, labels_test = make_sequence_bags(
        test_images, test_digits, num_bags, setting.run, setting.arrangement, rng, noise, shift
    )
    mask, mask_test = np.ones(x.shape[:2], bool), np.ones(x_test.shape[:2], bool)
    trainer, scorer = models.trainer, models.scorer
    trainer.set_weights(build_models(models.variants, x.shape[-1])[0].get_weights())
    for variable, value in zip(trainer.optimizer.variables, models.optimizer_state, strict=True):
        variable.assign(value)
    test_inputs = {"instances": x_test, "mask": mask_test}
    curves = {variant: [] for variant in models.variants}

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            aucs = _aucs(scorer, test_inputs, y_test, labels_test, models.variants)
            for variant, values in aucs.items():
                curves[variant].append(values)

    targets = {key: y[:, None].astype("float32") for key in trainer.output_names}
    trainer.fit(
        {"instances": x, "mask": mask},
        targets,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        verbose=0,
        callbacks=[Record()],
    )
    ceiling = supervised_ceiling(x, labels, x_test, y_test, labels_test, max(epochs, 30), seed)
    return {variant: np.array(values) for variant, values in curves.items()}, ceiling


def supervised_ceiling(x, instance_labels, x_test, y_test, labels_test, epochs, seed):
    """A per-instance classifier trained on the instance labels: `(instance AUC, bag AUC of
    its maximum over the bag)` on the held-out bags."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((x.shape[-1],))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(_encoder(inputs, "")))
    model.compile(keras.optimizers.Adam(LEARNING_RATE), "binary_crossentropy")
    model.fit(
        x.reshape(-1, x.shape[-1]),
        instance_labels.reshape(-1, 1).astype("float32"),
        batch_size=BATCH_SIZE * BAG_LENGTH,
        epochs=epochs,
        verbose=0,
    )
    scores = model.predict(x_test.reshape(-1, x.shape[-1]), verbose=0, batch_size=4096)
    scores = scores.reshape(labels_test.shape)
    return roc_auc_score(labels_test.reshape(-1), scores.reshape(-1)), roc_auc_score(
        y_test, scores.max(axis=1)
    )


def _cell(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def format_tables(results, ceilings, settings, variants):
    """Markdown tables (rows: heads, columns: settings): final bag AUC, bag AUC averaged over
    the epochs, final instance AUC; the supervised ceiling's rows under the first and third."""
    names = [f"{s.arrangement} k={s.run}" for s in settings]
    header = "| head | " + " | ".join(names) + " |\n|---|" + "---|" * len(settings)
    tables = []
    for title, pick, ceiling_index in (
        ("Bag AUC after the last epoch", lambda c: c[:, -1, 0], 1),
        ("Bag AUC averaged over the epochs (learning speed)", lambda c: c[:, :, 0].mean(1), None),
        ("Instance AUC after the last epoch", lambda c: c[:, -1, 1], 0),
    ):
        lines = [f"{title}:\n", header]
        for variant in variants:
            cells = [_cell(pick(np.array(results[s][variant]))) for s in settings]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        if ceiling_index is not None:
            label = "supervised per-instance" + (" (max over bag)" if ceiling_index else "")
            cells = [_cell([c[ceiling_index] for c in ceilings[s]]) for s in settings]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def plot(results, ceilings, settings, variants, path):
    """Bag and instance AUC against the epoch, mean and +-1 std over seeds, one row per
    setting; the supervised ceiling dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(settings), 2, figsize=(11, 2.8 * len(settings)), squeeze=False, sharex=True
    )
    colours = plt.get_cmap("tab10")
    for row, setting in enumerate(settings):
        for column, (metric, ceiling_index) in enumerate((("bag AUC", 1), ("instance AUC", 0))):
            ax = axes[row, column]
            for index, variant in enumerate(variants):
                curves = np.array(results[setting][variant])[:, :, column]
                epochs = np.arange(1, curves.shape[1] + 1)
                mean, std = curves.mean(0), curves.std(0)
                ax.plot(epochs, mean, color=colours(index), label=variant, lw=1.6)
                ax.fill_between(epochs, mean - std, mean + std, color=colours(index), alpha=0.12)
            ceiling = np.mean([c[ceiling_index] for c in ceilings[setting]])
            ax.axhline(ceiling, color="black", ls="--", lw=1, label="supervised ceiling")
            ax.set_ylim(0.4, 1.01)
            ax.set_ylabel(metric)
            ax.set_title(f"{setting.arrangement}, k = {setting.run}: {metric}", fontsize=10)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[0, 1].legend(fontsize=8, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    """Runs the benchmark, prints the tables, writes the curves and the plot under `--out`;
    returns `(results, ceilings)`: `results[setting][variant]` is a list over seeds of
    `(epochs, 2)` arrays (bag, instance AUC), `ceilings[setting]` a list of
    `(instance AUC, bag AUC of max)`.

    Example: `main(["--quick", "--out", "/tmp/mil_sequences"])`.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (5)")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs (60)")
    parser.add_argument(
        "--bags", type=int, default=400, help="training bags, and as many test bags (400)"
    )
    parser.add_argument(
        "--runs", default=",".join(map(str, RUN_LENGTHS)), help="run lengths k (1,2,4,8)"
    )
    parser.add_argument(
        "--arrangements", default=",".join(ARRANGEMENTS), help="contiguous,scattered"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="heads to compare (all seven)"
    )
    parser.add_argument(
        "--out", default="mil_sequences_results", help="folder for curves.json and the plot"
    )
    parser.add_argument(
        "--noise", type=float, default=NOISE, help=f"instance noise std ({NOISE}; pixels in [0, 1])"
    )
    parser.add_argument(
        "--shift", type=int, default=SHIFT, help=f"largest instance shift in pixels ({SHIFT})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 seed, 2 epochs, 40 bags, k = 2 contiguous and scattered",
    )
    args = parser.parse_args(argv)
    runs = tuple(int(k) for k in args.runs.split(","))
    arrangements = tuple(args.arrangements.split(","))
    seeds, epochs, num_bags = args.seeds, args.epochs, args.bags
    if args.quick:
        seeds, epochs, num_bags, runs = 1, 2, 40, (2,)
    for arrangement in arrangements:
        if arrangement not in ARRANGEMENTS:
            parser.error(f"unknown arrangement {arrangement!r}; expected {ARRANGEMENTS}")
    if any(not 1 <= k <= BAG_LENGTH for k in runs):
        parser.error(f"run lengths must be in 1..{BAG_LENGTH}, got {runs}")
    variants = tuple(args.variants.split(","))
    settings = settings_for(runs, arrangements)

    models = compiled_models(variants, 64)
    results = {s: {v: [] for v in variants} for s in settings}
    ceilings = {s: [] for s in settings}
    start = time.time()
    for setting in settings:
        for seed in range(seeds):
            curves, ceiling = run_once(
                models, setting, seed, epochs, num_bags, args.noise, args.shift
            )
            for variant, curve in curves.items():
                results[setting][variant].append(curve)
            ceilings[setting].append(ceiling)
            print(
                f"{setting.arrangement} k={setting.run} seed {seed}: "
                + ", ".join(f"{v} {c[-1, 0]:.3f}" for v, c in curves.items())
                + f" (bag AUC; {time.time() - start:.0f} s)",
                flush=True,
            )
    print(
        f"\nMIL sequences (bags of {BAG_LENGTH} digits, target {TARGET_DIGIT}, noise {args.noise}, "
        f"shift {args.shift} px; {num_bags} train / {num_bags} test bags, {epochs} epochs, "
        f"{seeds} seed(s), {time.time() - start:.0f} s)\n"
    )
    print(format_tables(results, ceilings, settings, variants))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.json").write_text(
        json.dumps(
            {
                f"{s.arrangement}-{s.run}": {
                    "curves": {v: np.array(results[s][v]).tolist() for v in variants},
                    "ceiling": [list(c) for c in ceilings[s]],
                }
                for s in settings
            }
        )
    )
    plot(results, ceilings, settings, variants, out / "mil_sequences.png")
    print(f"\ncurves and plot: {out}")
    return results, ceilings


if __name__ == "__main__":
    main()
