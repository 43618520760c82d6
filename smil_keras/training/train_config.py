"""The training configuration: the paper's recipe (section 4.2) as overridable defaults."""

import dataclasses
import math
import numbers
import os
import pathlib
import types

import yaml

from smil_keras.errors import ConfigError
from smil_keras.models import VARIANTS

MIXED_PRECISION_POLICIES = (None, "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored")
DISTRIBUTIONS = ("auto", "none", "data_parallel")
# The metrics `train` logs (and their "val_" twins), with the direction in which they improve.
MONITORED_METRICS = {"auc": "max", "accuracy": "max", "loss": "min"}
# Integer fields that count something (at least one); `None` where the field allows it.
_COUNTS = ("epochs", "batch_size", "image_size", "instances", "lr_decay_every", "steps_per_epoch")
# Number fields that must be above zero.
_POSITIVE = ("learning_rate", "lr_decay_factor", "margin")


@dataclasses.dataclass
class TrainConfig:
    """Everything ``smil train`` needs, with the paper's recipe as defaults (section 4.2).

    S-MIL is trained with Adam at a learning rate of 2e-4 halved every 5 epochs, for 30 epochs,
    on batches of 32 videos ("bags"); each epoch draws 8 of the 20 faces stored per video, with
    random crop and horizontal flip (done by the bag pipeline). The loss is binary cross-entropy
    on the video's fake probability (Eq. 13).

    Every field can be set from a YAML or JSON file (`TrainConfig.from_file`) and overridden
    field by field (`TrainConfig.override`); the resolved config is saved beside the run
    (`run_dir/config.yaml`) so a run can be reproduced or resumed from it.

    Every value is checked when the config is built (constructor, file or override): a value
    of the wrong type or out of range (`epochs: "ten"`, `learning_rate: null`,
    `batch_size: 2.5`) raises `smil_keras.errors.ConfigError` naming the key, the value and
    what was expected, before `train` touches any folder. Integers are not rounded and `None`
    is accepted only where a field says so.

    Args:
        train_data: bag shard files (`*.tfrecord`) or folders holding them, for training. They
            must hold labelled bags (0 real, 1 fake) of both classes (see `allow_one_class`).
        val_data: shard files or folders for validation (the best model is picked on them);
            empty to train without validation.
        run_dir: folder for the run: config, checkpoints, TensorBoard logs, CSV history.
        variant: detector variant passed to `build_detector` (one of
            `smil_keras.models.VARIANTS`: `"s-mil-t"`, `"s-mil"`, ...).
        backbone: backbone name (`"xception"`, any `keras.applications` name, `"tiny"`).
        image_size: side of the square face crops fed to the backbone.
        weights: backbone weights (`"imagenet"` as in the paper, a weights file, or `None`).
        model_kwargs: extra keyword arguments for `build_detector`.
        epochs: number of training epochs.
        batch_size: videos per batch.
        instances: faces drawn at random from each bag in every training epoch, an int >= 1
            (the paper: 8 of the 20 sampled frames); a bag with fewer faces gives all of them.
            Validation uses every face of a bag. Saved with the detector as part of its view
            (`detector.view.instances`).
        margin: the model's view of a face: crop side relative to the face box's longer side
            (1.3, as `smil predict` crops). Training cuts it at a random position out of the
            stored crops, which hold more context (`make_bag_dataset`), validation at the centre.
            Saved with the detector (`detector.view.margin`), so evaluation, prediction and
            export cut faces the same way.
        random_crop: cut the training view at a random position of the stored crops
            (`make_bag_dataset`; the paper's random crop), else at the centre.
        flip: random horizontal flips in training.
        balance: draw real and fake videos equally often in training (the dataset then
            repeats forever, so `steps_per_epoch` must be set).
        persons: bags ordered person by person, time order within a person, with the faces'
            person ids given to the detector (`make_bag_dataset(persons=True)`), in training
            and validation: S-MIL-T's temporal convolutions then never mix two people, as
            `smil predict` scores videos. False: frame order, as before people existed.
        learning_rate: initial Adam learning rate.
        lr_decay_every: multiply the learning rate by `lr_decay_factor` every this many epochs.
        lr_decay_factor: the factor applied every `lr_decay_every` epochs.
        monitor: the metric that picks `best.keras`: `"auc"`, `"accuracy"` or `"loss"`, with
            a `"val_"` prefix for the validation data (default `"val_auc"`; without validation
            data the training metric of that name is used).
        monitor_mode: `"max"` or `"min"`; it must agree with `monitor` (`"min"` for a loss).
        mixed_precision: `None`, `"mixed_bfloat16"` or `"mixed_float16"`.
        jit_compile: compile the train step with XLA.
        strategy: TensorFlow backend: `"auto"` (MirroredStrategy when several GPUs are
            visible), `"default"` or `"mirrored"` (every device of this host). One host only:
            Keras 3 cannot `fit` with TensorFlow's multi-worker strategy
            (`smil_keras.training.distribution`).
        distribution: JAX backend: `"auto"` (`keras.distribution.DataParallel` when there
            are several devices or processes), `"data_parallel"` or `"none"`. With several
            processes each reads its own shard files; only process 0 writes `run_dir`.
        coordinator_address: JAX, several processes: `"host:port"` of process 0 (`None`:
            from the environment, `smil_keras.training.distribution.cluster_from_environment`:
            `KERAS_DISTRIBUTION_JOB_ADDRESSES`, else `MASTER_ADDR:MASTER_PORT`, else SLURM or
            Open MPI as JAX detects them).
        num_processes: JAX: processes training together, usually one per host (`None`:
            `KERAS_DISTRIBUTION_NUM_PROCESSES`, else `WORLD_SIZE`, else `SLURM_STEP_NUM_TASKS` or
            `OMPI_COMM_WORLD_SIZE`, else 1).
        process_id: JAX: this process's index, 0 for the one that writes the run folder
            (`None`: `KERAS_DISTRIBUTION_PROCESS_ID`, else `RANK`, else as JAX detects it).
        seed: random seed (weights, data order, augmentation).
        steps_per_epoch: batches per epoch, the data repeating as needed (`None`: one pass
            over the training bags per epoch).
        allow_one_class: train even when the training data holds one class only (`train`
            refuses by default: such a detector cannot learn what separates the classes, and
            its AUC is undefined). Not possible with `balance`.
        restore_best: at the end of training, `TrainResult.model` holds the weights of the
            best epoch (`best.keras`, by `monitor`) rather than those of the last epoch
            (`last.keras`, always saved too).

    Example:

    >>> config = TrainConfig(train_data=["bags/train"], epochs=2, backbone="tiny")
    >>> config.override({"learning_rate": 1e-3}).learning_rate
    0.001
    >>> TrainConfig(epochs="ten")
    Traceback (most recent call last):
    ...
    smil_keras.errors.ConfigError: config key 'epochs': expected an integer >= 1, got 'ten' (str)
    """

    train_data: list = dataclasses.field(default_factory=list)
    val_data: list = dataclasses.field(default_factory=list)
    run_dir: str = "runs/smil"
    variant: str = "s-mil-t"
    backbone: str = "xception"
    image_size: int = 299
    weights: str | None = "imagenet"
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 32
    instances: int = 8
    margin: float = 1.3
    random_crop: bool = True
    flip: bool = True
    balance: bool = False
    persons: bool = False
    learning_rate: float = 2e-4
    lr_decay_every: int = 5
    lr_decay_factor: float = 0.5
    monitor: str = "val_auc"
    monitor_mode: str = "max"
    mixed_precision: str | None = None
    jit_compile: bool = False
    strategy: str = "auto"
    distribution: str = "auto"
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    seed: int = 0
    steps_per_epoch: int | None = None
    allow_one_class: bool = False
    restore_best: bool = True

    def __post_init__(self):
        for field in dataclasses.fields(self):
            setattr(self, field.name, _checked(field, getattr(self, field.name)))
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION_POLICIES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("distribution", self.distribution, DISTRIBUTIONS)
        _check_choice("monitor_mode", self.monitor_mode, ("max", "min"))
        metric = self.monitor.removeprefix("val_")
        metrics = [*MONITORED_METRICS, *(f"val_{name}" for name in MONITORED_METRICS)]
        _check_choice("monitor", self.monitor, metrics)
        if MONITORED_METRICS[metric] != self.monitor_mode:
            raise ConfigError(
                ["monitor", "monitor_mode"],
                f"{self.monitor} improves as it goes {'up' if metric != 'loss' else 'down'}, "
                f"but monitor_mode is {self.monitor_mode!r}: set monitor_mode to "
                f"{MONITORED_METRICS[metric]!r}",
            )
        if self.balance and not self.steps_per_epoch:
            raise ConfigError(
                "steps_per_epoch",
                "balance=True repeats the training data forever: set steps_per_epoch",
            )
        if self.balance and self.allow_one_class:
            raise ConfigError(
                ["balance", "allow_one_class"],
                "balance draws real and fake bags equally often and cannot with one class",
            )

    @classmethod
    def from_file(cls, path, overrides=None):
        """Reads a config from a YAML or JSON file (JSON is valid YAML).

        Unknown keys and wrong values raise a `ConfigError` naming the key and the file, so a
        typo never goes unnoticed.

        Args:
            path: the file.
            overrides: values that replace the file's (as `override` takes them, e.g. the
                command line's), checked together with the file's values.

        Example:

        >>> config = TrainConfig.from_file("configs/ffpms.yaml")  # doctest: +SKIP
        """
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML or JSON: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(
                f"{path}: expected a mapping of config keys, got {type(values).__name__}"
            )
        overrides = dict(overrides or {})
        try:
            return cls().override({**values, **overrides})
        except ConfigError as error:
            keys = error.key if isinstance(error.key, list) else [error.key]
            if all(key in overrides for key in keys):
                raise
            raise ConfigError(error.key, f"{error.reason} (in {path})") from None

    def override(self, values):
        """Returns a copy with the given fields replaced (`None` is a value, e.g. `weights`).

        String values from the command line (`key=value`) are parsed as YAML scalars, so
        `"1e-3"` becomes a float and `"null"` or `"none"` becomes `None` (which only the
        fields that allow it take: `weights`, `mixed_precision`, `steps_per_epoch`).
        """
        fields = {field.name: field for field in dataclasses.fields(self)}
        unknown = sorted(str(name) for name in set(values) - set(fields))
        if unknown:
            raise ConfigError(
                unknown[0] if len(unknown) == 1 else unknown,
                f"not a TrainConfig field; known keys: {', '.join(sorted(fields))}",
            )
        changes = {name: _parsed(fields[name], value) for name, value in values.items()}
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self, path):
        """Writes the config as YAML (`run_dir/config.yaml` for a run)."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        return path


def _parsed(field, value):
    """A command-line string parsed as YAML (`"2e-4"` -> 2e-4, `"null"`/`"none"` -> None);
    other values, and strings for string fields, as they are (`_checked` checks them)."""
    if not isinstance(value, str) or field.type is str:
        return value
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str) and parsed.lower() == "none":
        return None
    if isinstance(parsed, str) and _base_type(field) is float:
        try:
            return float(parsed)  # YAML 1.1 reads "2e-4" (no dot) as a string
        except ValueError:
            return value
    return parsed


def _base_type(field):
    """The field's type without `None` (`int | None` -> int), and whether `None` is allowed."""
    if isinstance(field.type, types.UnionType):
        options = [option for option in field.type.__args__ if option is not type(None)]
        return options[0] if len(options) == 1 else None
    return field.type


def _checked(field, value):
    """`value` checked against the field's type and range, converted (int -> float, a path ->
    a list of one str); `ConfigError` naming the key, the value and the expected type."""
    kind = _base_type(field)
    optional = isinstance(field.type, types.UnionType) and type(None) in field.type.__args__
    expected = {
        int: "an integer >= 1" if field.name in _COUNTS else "an integer",
        float: "a number > 0" if field.name in _POSITIVE else "a finite number",
        bool: "true or false",
        str: "a string",
        list: "a path or a list of paths",
        dict: "a mapping",
    }.get(kind)
    if expected is None:
        return value  # a type this check does not know: its own validation applies
    if value is None and optional:
        return None
    if kind is int:
        good = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        good = good and (field.name not in _COUNTS or value >= 1)
        value = int(value) if good else value
    elif kind is float:
        good = isinstance(value, numbers.Real) and not isinstance(value, bool)
        good = good and math.isfinite(value) and (field.name not in _POSITIVE or value > 0)
        value = float(value) if good else value
    elif kind is list:
        items = [value] if isinstance(value, (str, os.PathLike)) else value
        items = [] if items is None else items  # `val_data: null`: no validation
        good = isinstance(items, (list, tuple)) and all(
            isinstance(item, (str, os.PathLike)) for item in items
        )
        value = [os.fspath(item) for item in items] if good else value
    else:
        good = isinstance(value, kind)
    if not good:
        raise ConfigError(
            field.name,
            f"expected {expected}{' or null' if optional else ''}, "
            f"got {value!r} ({type(value).__name__})",
        )
    return value


def _check_choice(key, value, choices):
    if value not in choices:
        raise ConfigError(key, f"expected one of {list(choices)}, got {value!r}")
