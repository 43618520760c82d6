"""Where the S-MIL-T training step spends its time next to the bare backbone's (issue 7, item 1).

Profiles `--steps` training steps of each model of `train_speed.py` (same models, same faces,
same arguments) with the JAX profiler, reads the Perfetto trace it writes and prints, per model
and per step: the wall time, the device's busy time (the union of its kernels' intervals,
so concurrent kernels count once), the idle gaps between kernels within the step, and the
number of kernels; then the kernels that account for the detector's extra device time. If the
detector's extra wall time is device time, its head computes; if it is idle time, the step
waits on the host (launches, transfers).

JAX only (the profiler's device tracing):

    KERAS_BACKEND=jax python benchmarks/train_profile.py --backbone xception --image-size 299 \\
        --bags 32 --faces-per-bag 8 --precision mixed_bfloat16 --jit on --steps 5
"""

import collections
import gzip
import json
import pathlib
import sys
import tempfile
import time

import keras

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import build_models, make_batches, parse_args  # noqa: E402


def device_events(trace_file):
    """Kernel events (`ph` "X") of the accelerator's stream rows of a Perfetto trace.

    The device's other rows ("XLA Modules", "XLA Ops") span the kernels they launch, so they
    are left out. Returns `(events, row names kept)`.
    """
    with gzip.open(trace_file, "rt") as file:
        events = json.load(file)["traceEvents"]
    names = {
        (e["name"], e["pid"], e.get("tid")): e["args"].get("name", "")
        for e in events
        if e.get("ph") == "M"
    }
    devices = {
        pid
        for (kind, pid, _), name in names.items()
        if kind == "process_name" and "/device:" in name and "CPU" not in name
    }
    rows = {
        (pid, tid): name
        for (kind, pid, tid), name in names.items()
        if kind == "thread_name" and pid in devices
    }
    streams = {row for row, name in rows.items() if name.startswith("Stream")}
    streams = streams or {row for row, name in rows.items() if not name.startswith("XLA")}
    kernels = [
        e
        for e in events
        if e.get("ph") == "X" and e.get("dur") and (e["pid"], e.get("tid")) in streams
    ]
    return kernels, sorted({rows[row] for row in streams})


def busy_time(events):
    """Microseconds covered by at least one of the events' intervals."""
    busy, end = 0.0, float("-inf")
    for start, stop in sorted((e["ts"], e["ts"] + e["dur"]) for e in events):
        if stop > end:
            busy += stop - max(start, end)
            end = stop
    return busy


def profile(model, batch, steps, folder):
    """`(wall seconds per step, device events)` of `steps` traced training steps."""
    import jax

    model.train_on_batch(*batch)  # compiled and warm before tracing
    with jax.profiler.trace(folder, create_perfetto_trace=True):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*batch)
        wall = (time.perf_counter() - start) / steps
    (trace_file,) = pathlib.Path(folder).rglob("perfetto_trace.json.gz")
    events, rows = device_events(trace_file)
    if not events:
        raise SystemExit("the trace holds no device kernels (no GPU, or no CUPTI)")
    return wall, events, rows


def main(argv=None):
    if keras.backend.backend() != "jax":
        raise SystemExit("train_profile.py needs KERAS_BACKEND=jax (JAX's profiler)")
    parser_args = parse_args(argv)
    detector, bare = build_models(parser_args)
    detector_batch, bare_batch = make_batches(parser_args)
    steps = parser_args.steps
    results = {}
    for name, model, batch in (("bare", bare, bare_batch), ("detector", detector, detector_batch)):
        with tempfile.TemporaryDirectory() as folder:
            results[name] = profile(model, batch, steps, folder)

    print(
        f"{parser_args.backbone} {parser_args.image_size}px, {parser_args.bags} bags x "
        f"{parser_args.faces_per_bag} faces, {parser_args.precision}, jit {parser_args.jit}, "
        f"{steps} profiled steps per model (milliseconds per step; device rows: "
        f"{', '.join(results['detector'][2])})\n"
    )
    print("| model | wall | device busy | device idle in the step | kernels |")
    print("|---|---:|---:|---:|---:|")
    kernel_time = {}
    for name, (wall, events, _rows) in results.items():
        busy = busy_time(events) / 1000 / steps
        span = (max(e["ts"] + e["dur"] for e in events) - min(e["ts"] for e in events)) / 1000
        print(
            f"| {name} | {1000 * wall:.1f} | {busy:.1f} | {span / steps - busy:.1f} | "
            f"{len(events) / steps:.0f} |"
        )
        totals = collections.Counter()
        for event in events:
            totals[event["name"]] += event["dur"] / 1000 / steps
        kernel_time[name] = totals
    extra = kernel_time["detector"] - kernel_time["bare"]  # keeps positive differences only
    print(
        f"\nKernels with more device time in the detector's step ({sum(extra.values()):.2f} ms "
        "in all; names as XLA gives them):\n"
    )
    print("| kernel | detector ms/step | bare ms/step |")
    print("|---|---:|---:|")
    for kernel, _ in extra.most_common(12):
        print(
            f"| `{kernel[:80]}` | {kernel_time['detector'][kernel]:.3f} | "
            f"{kernel_time['bare'][kernel]:.3f} |"
        )


if __name__ == "__main__":
    main()
