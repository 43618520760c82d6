"""Training-step speed of the S-MIL-T detector against the bare backbone (issue 7, item 1).

Both models see the same `B x M` faces in the same run, with the same precision, optimizer
(Adam) and compilation:

- detector: `build_detector(variant, backbone)`, input `{"faces": (B, M, S, S, 3), "mask"}`,
  one label per bag;
- bare backbone: `build_backbone(backbone)` + `Dense(1, sigmoid)` on the `B * M` single faces,
  one label per face (a frame classifier, the paper's XceptionNet baseline).

A step is `model.train_on_batch` (forward, backward, Adam update: the function `model.fit`
runs per batch). The inputs live on the device before timing and the bag length `M` is the
same in every step, so a compiled (XLA) step is traced once. After `--warmup` steps per
model (compilation), the two models alternate for `--repeats` rounds of `--steps` steps each;
the table gives the median faces per second of each model and the median of the per-round
ratios (detector / bare), which load on a shared machine affects equally. On a CPU it also
gives the ratio of process CPU time per step (bare / detector), steadier than wall time when
other jobs share the cores. Issue 7's target is a ratio of at least 0.95.

Backend-neutral (Keras 3): run it with `KERAS_BACKEND=jax` on a GPU machine without
TensorFlow. Paper setting (one GPU):

    KERAS_BACKEND=jax python benchmarks/train_speed.py --backbone xception --image-size 299 \
        --bags 32 --faces-per-bag 8 --precision mixed_bfloat16 --jit on

CPU (small):

    python benchmarks/train_speed.py --backbone tiny --image-size 64 --bags 8
"""

import argparse
import os
import platform
import statistics
import time

import keras
import numpy as np

from smil_keras.models import backbone_names, build_backbone, build_detector
from smil_keras.models.smil_detector import VARIANTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbone",
        default="tiny",
        choices=backbone_names(),
        metavar="NAME",
        help="backbone name: tiny, xception, resnet50, ... (default tiny)",
    )
    parser.add_argument("--image-size", type=int, default=64, help="face side S (default 64)")
    parser.add_argument("--bags", type=int, default=8, help="bags per batch B (default 8)")
    parser.add_argument("--faces-per-bag", type=int, default=8, help="faces per bag M (default 8)")
    parser.add_argument("--variant", default="s-mil-t", choices=VARIANTS)
    parser.add_argument(
        "--filters", type=int, default=512, help="temporal convolution filters r (paper: 512)"
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16", "mixed_float16", "bfloat16"),
    )
    parser.add_argument(
        "--jit",
        default="auto",
        choices=("auto", "on", "off"),
        help="XLA: Keras' default (auto: on for JAX, off for TF on CPU), on, off",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model per round")
    parser.add_argument("--repeats", type=int, default=7, help="rounds (median is reported)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_models(args):
    """(detector, bare frame classifier), both compiled alike."""
    keras.mixed_precision.set_global_policy(args.precision)
    kwargs = {"filters": args.filters} if args.variant in ("s-mil", "s-mil-t") else {}
    detector = build_detector(
        args.variant, backbone=args.backbone, image_size=args.image_size, weights=None, **kwargs
    )
    backbone = build_backbone(args.backbone, image_size=args.image_size, weights=None)
    # The output layer in float32, as the Keras mixed-precision guide advises (and as the
    # detector's head computes its probabilities).
    probability = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="classifier")(
        backbone.output
    )
    bare = keras.Model(backbone.input, probability, name="bare_backbone")
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    for model in (detector, bare):
        model.compile(
            optimizer=keras.optimizers.Adam(2e-4), loss="binary_crossentropy", jit_compile=jit
        )
    return detector, bare


def make_batches(args):
    """Device tensors: detector `(inputs, labels)` and bare `(faces, labels)` of the same faces."""
    rng = np.random.default_rng(args.seed)
    shape = (args.bags, args.faces_per_bag, args.image_size, args.image_size, 3)
    faces = rng.uniform(0, 255, shape).astype("float32")
    bag_labels = rng.integers(0, 2, (args.bags, 1)).astype("float32")
    tensor = keras.ops.convert_to_tensor
    detector_batch = (
        {"faces": tensor(faces), "mask": tensor(np.ones(shape[:2], bool))},
        tensor(bag_labels),
    )
    bare_batch = (
        tensor(faces.reshape(-1, *shape[2:])),
        tensor(np.repeat(bag_labels, args.faces_per_bag, axis=0)),
    )
    return detector_batch, bare_batch


def time_steps(model, batch, steps):
    """`(wall, process CPU)` seconds of `steps` training steps (each `train_on_batch` returns
    its loss to the host, so it has finished when it returns)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(*batch)
    return time.perf_counter() - start, time.process_time() - start_cpu


def accelerators():
    """Names of the GPUs/TPUs the backend computes on; empty on CPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return sorted({d.device_kind for d in jax.devices() if d.platform != "cpu"})
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(g).get("device_name", "GPU")
            for g in tf.config.list_physical_devices("GPU")
        ]
    return []


def backend_description():
    """ "backend NAME" and, when it computes on one, "on" the accelerator's name."""
    devices = accelerators()
    return f"backend {keras.backend.backend()}" + (f" on {', '.join(devices)}" if devices else "")


def main(argv=None):
    args = parse_args(argv)
    detector, bare = build_models(args)
    detector_batch, bare_batch = make_batches(args)
    models = {"detector": (detector, detector_batch), "bare": (bare, bare_batch)}
    for model, batch in models.values():
        time_steps(model, batch, args.warmup)

    faces = args.bags * args.faces_per_bag
    seconds = {name: [] for name in models}  # (wall, CPU) per round
    for _ in range(args.repeats):
        for name, (model, batch) in models.items():
            seconds[name].append(time_steps(model, batch, args.steps))
    rates = {
        name: [faces * args.steps / wall for wall, _ in runs] for name, runs in seconds.items()
    }
    ratios = [d / b for d, b in zip(rates["detector"], rates["bare"], strict=True)]
    cpu_ratios = [b[1] / d[1] for d, b in zip(seconds["detector"], seconds["bare"], strict=True)]
    devices = accelerators()
    device = ", ".join(devices) or f"CPU ({os.cpu_count()} cores, {platform.machine()})"

    print(
        f"backend {keras.backend.backend()}, device {device}, "
        f"precision {args.precision}, jit {args.jit}, backbone {args.backbone} "
        f"{args.image_size}x{args.image_size}, {args.bags} bags x {args.faces_per_bag} faces "
        f"= {faces} faces per step, median of {args.repeats} rounds x {args.steps} steps "
        f"(after {args.warmup} warm-up steps)\n"
    )
    # On a CPU shared with other jobs the process's CPU time is steadier than wall time.
    cpu_column = not devices
    print(
        "| model | parameters | faces/s | ms/step | ratio to bare backbone |"
        + (" ratio by CPU time |" if cpu_column else "")
    )
    print("|---|---:|---:|---:|---:|" + ("---:|" if cpu_column else ""))
    names = {
        "bare": f"bare {args.backbone} + Dense (frame classifier)",
        "detector": f"{args.variant.upper()} detector",
    }
    for name in ("bare", "detector"):
        rate = statistics.median(rates[name])
        ratio = 1.0 if name == "bare" else statistics.median(ratios)
        cpu_ratio = 1.0 if name == "bare" else statistics.median(cpu_ratios)
        print(
            f"| {names[name]} | {models[name][0].count_params():,} | {rate:.1f} | "
            f"{1000 * faces / rate:.0f} | {ratio:.3f} |"
            + (f" {cpu_ratio:.3f} |" if cpu_column else "")
        )
    print(
        f"\nper-round ratios: {', '.join(f'{r:.3f}' for r in ratios)}"
        + (f"; by CPU time: {', '.join(f'{r:.3f}' for r in cpu_ratios)}" if cpu_column else "")
    )


if __name__ == "__main__":
    main()
