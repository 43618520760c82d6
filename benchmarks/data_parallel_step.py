"""The JAX `DataParallel` training step against the plain step on the same devices (issue 15 §4).

`smil train` on the JAX backend wraps the detector in `keras.distribution.DataParallel` over
every device (`smil_keras.training.distribution`). On one device that wrapper should cost
nothing; this script measures what it costs: two detectors, built alike from the same seed,
one plain and one built and trained inside `DataParallel(devices=list_devices(),
auto_shard_dataset=False)` (the library's construction), see the same batch of `B x M` faces
in the same run. After `--warmup` steps each (compilation), the two alternate for `--repeats`
rounds of `--steps` `train_on_batch` steps; the table gives the median faces per second of
each and the median of the per-round ratios (data-parallel / plain), which load affects
equally. The issue's target on one GPU: an overhead of at most 2 %, i.e. a ratio >= 0.98.

The lent GPU machine has one card, so this is the one-device figure; with several cards the
same script measures the data-parallel step over all of them against one (`--plain-devices 1`
is the default: the plain model runs on the first device).

Backend JAX only. On a GPU machine (paper setting):

    KERAS_BACKEND=jax python benchmarks/data_parallel_step.py --backbone xception \
        --image-size 299 --bags 32 --faces-per-bag 8 --precision mixed_bfloat16

CPU rehearsal (two host devices: the data-parallel model splits each batch over both):

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
        python benchmarks/data_parallel_step.py --backbone tiny --image-size 32 --bags 4 --steps 2
"""

import os
import platform
import statistics

import keras
from train_speed import accelerators, make_batches, parse_args, time_steps

from smil_keras.models import build_detector


def build(args, seed):
    """A compiled detector with weights drawn from `seed` (the same for both models)."""
    keras.utils.set_random_seed(seed)
    kwargs = {"filters": args.filters} if args.variant in ("s-mil", "s-mil-t") else {}
    model = build_detector(
        args.variant, backbone=args.backbone, image_size=args.image_size, weights=None, **kwargs
    )
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    model.compile(
        optimizer=keras.optimizers.Adam(2e-4), loss="binary_crossentropy", jit_compile=jit
    )
    return model


def main(argv=None):
    if keras.backend.backend() != "jax":
        raise SystemExit("keras.distribution.DataParallel needs KERAS_BACKEND=jax")
    args = parse_args(argv)
    keras.mixed_precision.set_global_policy(args.precision)
    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    plain = build(args, args.seed)
    with distribution.scope():
        parallel = build(args, args.seed)
    batch, _ = make_batches(args)

    def run(name, steps):
        if name == "plain":
            return time_steps(plain, batch, steps)
        with distribution.scope():
            return time_steps(parallel, batch, steps)

    names = ("plain", "data-parallel")
    for name in names:
        run(name, args.warmup)
    walls = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            walls[name].append(run(name, args.steps)[0])
    faces = args.bags * args.faces_per_bag
    rates = {name: [faces * args.steps / wall for wall in runs] for name, runs in walls.items()}
    ratios = [p / q for p, q in zip(rates["data-parallel"], rates["plain"], strict=True)]

    kinds = accelerators()
    device = ", ".join(kinds) or f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    print(
        f"backend jax, {len(devices)} device(s) ({device}), precision {args.precision}, "
        f"jit {args.jit}, {args.variant} on {args.backbone} {args.image_size}x{args.image_size}, "
        f"{args.bags} bags x {args.faces_per_bag} faces = {faces} faces per step, median of "
        f"{args.repeats} rounds x {args.steps} steps (after {args.warmup} warm-up steps)\n"
    )
    print("| step | devices | faces/s | ms/step | ratio to plain |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        rate = statistics.median(rates[name])
        ratio = statistics.median(ratios) if name == "data-parallel" else 1.0
        used = len(devices) if name == "data-parallel" else 1
        print(f"| {name} | {used} | {rate:.1f} | {1000 * faces / rate:.1f} | {ratio:.3f} |")
    print(f"\nper-round ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    if len(devices) == 1:
        overhead = 1 - statistics.median(ratios)
        print(f"data-parallel overhead: {100 * overhead:+.2f} % (target: at most 2 %)")


if __name__ == "__main__":
    main()
