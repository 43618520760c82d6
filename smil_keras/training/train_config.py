"""The training configuration: the paper's recipe (section 4.2) as overridable defaults."""

import dataclasses
import pathlib

import yaml

MIXED_PRECISION_POLICIES = (None, "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored")


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

    Args:
        train_data: bag shard files (`*.tfrecord`) or folders holding them, for training.
        val_data: shard files or folders for validation (the best model is picked on them);
            empty to train without validation.
        run_dir: folder for the run: config, checkpoints, TensorBoard logs, CSV history.
        variant: detector variant passed to `build_detector` (`"s-mil-t"`, `"s-mil"`, ...).
        backbone: backbone name (`"xception"`, any `keras.applications` name, `"tiny"`).
        image_size: side of the square face crops fed to the backbone.
        weights: backbone weights (`"imagenet"` as in the paper, or `None`).
        model_kwargs: extra keyword arguments for `build_detector`.
        epochs: number of training epochs.
        batch_size: videos per batch.
        instances: faces drawn at random per video and epoch (`None`: all).
        margin: the model's view of a face: crop side relative to the face box's longer side
            (1.3, as `smil predict` crops). Training cuts it at a random position out of the
            stored crops, which hold more context (`make_bag_dataset`), validation at the centre.
        random_crop: cut the training view at a random position of the stored crops
            (`make_bag_dataset`; the paper's random crop), else at the centre.
        flip: random horizontal flips in training.
        balance: draw real and fake videos equally often in training (the dataset then
            repeats forever, so `steps_per_epoch` must be set).
        learning_rate: initial Adam learning rate.
        lr_decay_every: multiply the learning rate by `lr_decay_factor` every this many epochs.
        lr_decay_factor: the factor applied every `lr_decay_every` epochs.
        monitor: the metric that picks `best.keras` (`"val_auc"`; `"auc"` without validation).
        monitor_mode: `"max"` or `"min"`.
        mixed_precision: `None`, `"mixed_bfloat16"` or `"mixed_float16"`.
        jit_compile: compile the train step with XLA.
        strategy: `"auto"` (MirroredStrategy when several GPUs are visible), `"default"` or
            `"mirrored"`.
        seed: random seed (weights, data order, augmentation).
        steps_per_epoch: batches per epoch, the data repeating as needed (`None`: one pass
            over the training bags per epoch).

    Example:

    >>> config = TrainConfig(train_data=["bags/train"], epochs=2, backbone="tiny")
    >>> config.override({"learning_rate": 1e-3}).learning_rate
    0.001
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
    instances: int | None = 8
    margin: float = 1.3
    random_crop: bool = True
    flip: bool = True
    balance: bool = False
    learning_rate: float = 2e-4
    lr_decay_every: int = 5
    lr_decay_factor: float = 0.5
    monitor: str = "val_auc"
    monitor_mode: str = "max"
    mixed_precision: str | None = None
    jit_compile: bool = False
    strategy: str = "auto"
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self):
        for name in ("train_data", "val_data"):
            value = getattr(self, name)
            if isinstance(value, (str, pathlib.Path)):
                value = [value]
            setattr(self, name, [str(item) for item in value or []])
        if self.mixed_precision not in MIXED_PRECISION_POLICIES:
            raise ValueError(
                f"mixed_precision must be one of {MIXED_PRECISION_POLICIES}, "
                f"got {self.mixed_precision!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.monitor_mode not in ("max", "min"):
            raise ValueError(f"monitor_mode must be 'max' or 'min', got {self.monitor_mode!r}")
        if not float(self.margin) > 0:
            raise ValueError(f"margin must be positive, got {self.margin!r}")
        if self.balance and not self.steps_per_epoch:
            raise ValueError("balance=True repeats the training data forever: set steps_per_epoch")
        for name in ("epochs", "batch_size", "image_size", "lr_decay_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @classmethod
    def from_file(cls, path):
        """Reads a config from a YAML or JSON file (JSON is valid YAML).

        Unknown keys raise a `ValueError` naming the file, so a typo never goes unnoticed.

        Example:

        >>> config = TrainConfig.from_file("configs/ffpms.yaml")  # doctest: +SKIP
        """
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML or JSON: {error}") from error
        if not isinstance(values, dict):
            raise ValueError(
                f"{path}: expected a mapping of config keys, got {type(values).__name__}"
            )
        try:
            return cls().override(values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def override(self, values):
        """Returns a copy with the given fields replaced (`None` is a value, e.g. `weights`).

        String values from the command line (`key=value`) are parsed as YAML scalars, so
        `"1e-3"` becomes a float and `"null"` becomes `None`.
        """
        fields = {field.name: field for field in dataclasses.fields(self)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {sorted(fields)}")
        changes = {name: _coerce(fields[name], value) for name, value in values.items()}
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self, path):
        """Writes the config as YAML (`run_dir/config.yaml` for a run)."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        return path


def _coerce(field, value):
    """Parses a command-line string into the field's type (`"2e-4"` -> 2e-4, `"null"` -> None)."""
    if not isinstance(value, str) or field.type is str:
        return float(value) if field.type is float else value
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str) and parsed.lower() == "none":
        return None
    if field.type is float and isinstance(parsed, str):
        try:
            return float(parsed)  # YAML 1.1 reads "2e-4" (no dot) as a string
        except ValueError:
            raise ValueError(f"{field.name} must be a number, got {value!r}") from None
    return float(parsed) if field.type is float else parsed
