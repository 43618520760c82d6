"""`smil train`: train a detector with the paper's recipe, every value overridable."""

import argparse
import logging

from smil_keras.cli import console

EPILOG = """\
examples:
  smil train --train bags/train --val bags/val --run-dir runs/smil_t
  smil train --config configs/ffpms.yaml --epochs 10 \\
      --set instances=12 "model_kwargs={dropout: 0.2}"
  smil train --config run.yaml --mixed-precision mixed_bfloat16 --xla --strategy mirrored
  KERAS_BACKEND=jax smil train --config run.yaml --distribution data_parallel \\
      --coordinator-address 10.0.0.1:1234 --num-processes 2 --process-id 0   # on host 0
  (and the same with --process-id 1 on host 1)

Several devices: on TensorFlow --strategy mirrored uses every device of this host; on JAX
--distribution data_parallel every device of every process. Several hosts need the JAX
backend: one process per host; the cluster comes from the flags or from the launcher's
environment (KERAS_DISTRIBUTION_*, torchrun's MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK, SLURM's
srun, Open MPI's mpirun); each process reads its own shard files; process 0 writes RUN_DIR,
which every host must see.

Defaults are the paper's recipe (sec. 4.2): variant s-mil-t, Xception (ImageNet weights),
Adam at 2e-4 halved every 5 epochs, 30 epochs, 32 videos per batch, 8 of the 20 faces per
video per epoch, random crop and flip. The config file (YAML or JSON) holds any TrainConfig
field; flags override it, --set overrides any field (KEY=VALUE, values parsed as YAML).
The resolved config is saved as RUN_DIR/config.yaml; RUN_DIR also gets history.csv,
TensorBoard logs (logs/), last.keras and best.keras (best validation AUC).

A killed run resumes where it stopped: run the same command again (the same settings: a
resume with other settings is refused, naming each differing field).
Before anything is written, the config and the data are checked: a value of the wrong type,
shards without bags, or training data of one class only (set allow_one_class=true to train
anyway) is refused. At the end RUN_DIR/best.keras is also the returned model's state.

exit status: 0 trained; 2 bad arguments, config, data or run folder.
"""

# Flag -> TrainConfig field.
_FLAGS = {
    "train": "train_data",
    "val": "val_data",
    "run_dir": "run_dir",
    "variant": "variant",
    "backbone": "backbone",
    "image_size": "image_size",
    "weights": "weights",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "instances": "instances",
    "learning_rate": "learning_rate",
    "mixed_precision": "mixed_precision",
    "strategy": "strategy",
    "distribution": "distribution",
    "coordinator_address": "coordinator_address",
    "num_processes": "num_processes",
    "process_id": "process_id",
    "seed": "seed",
}


def register(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a detector on bag shards",
        description="Train an S-MIL detector (or a baseline) on bag shards with model.fit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML or JSON file of TrainConfig fields")
    parser.add_argument("--train", nargs="+", metavar="SHARDS", help="training shards or folders")
    parser.add_argument("--val", nargs="+", metavar="SHARDS", help="validation shards or folders")
    parser.add_argument("--run-dir", help="folder for the run (default runs/smil)")
    parser.add_argument(
        "--variant",
        help="detector variant, s-mil-t by default: one of smil_keras.models.VARIANTS "
        "(an unknown one is refused, naming them)",
    )
    parser.add_argument("--backbone", help="xception (default), any keras.applications name, tiny")
    parser.add_argument("--image-size", type=int, help="face crop side fed to the backbone (299)")
    parser.add_argument("--weights", help="backbone weights: imagenet (default), none, or a file")
    parser.add_argument("--epochs", type=int, help="epochs (30)")
    parser.add_argument("--batch-size", type=int, help="videos per batch (32)")
    parser.add_argument(
        "--instances", type=int, help="faces drawn at random per video in each training epoch (8)"
    )
    parser.add_argument("--learning-rate", type=float, help="initial Adam learning rate (2e-4)")
    parser.add_argument(
        "--mixed-precision", choices=["mixed_bfloat16", "mixed_float16"], help="mixed precision"
    )
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    parser.add_argument(
        "--strategy",
        choices=["auto", "default", "mirrored"],
        help="tf.distribute strategy (auto: mirrored on several GPUs)",
    )
    parser.add_argument(
        "--distribution",
        choices=["auto", "none", "data_parallel"],
        help="JAX backend: keras.distribution.DataParallel over every device of every process "
        "(auto: when there are several)",
    )
    parser.add_argument(
        "--coordinator-address", metavar="HOST:PORT", help="JAX, several hosts: process 0's address"
    )
    parser.add_argument(
        "--num-processes", type=int, help="JAX: processes training together (one per host)"
    )
    parser.add_argument(
        "--process-id", type=int, help="JAX: this process's index, 0 writes RUN_DIR"
    )
    parser.add_argument("--seed", type=int, help="random seed (0)")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="override any config field"
    )
    parser.set_defaults(func=run)


def run(args):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = resolve_config(args)
        from smil_keras.training import train

        result = train(config)
    except (OSError, ValueError) as error:  # ConfigError, BagFormatError, missing files, ...
        console.print_error("train", error)
        return console.FATAL
    last = result.history[-1] if result.history else {}
    summary = ", ".join(  # no validation data: its columns are NaN, not worth printing
        f"{key} {value:.4f}" for key, value in last.items() if key != "epoch" and value == value
    )
    print(f"trained {len(result.history)} epochs in {result.run_dir}: {summary}")
    print(f"best model: {result.best_model_path}")
    return console.OK


def resolve_config(args):
    """The `TrainConfig` of a config file (or the defaults) with the flags applied."""
    from smil_keras.training import TrainConfig

    flags = {field: getattr(args, flag) for flag, field in _FLAGS.items()}
    overrides = {field: value for field, value in flags.items() if value is not None}
    if args.xla:
        overrides["jit_compile"] = True
    for item in args.set:
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    if args.config:  # one check of the file's values with the flags applied
        return TrainConfig.from_file(args.config, overrides)
    return TrainConfig().override(overrides)
