"""The training config: the paper's defaults, files, overrides, the saved resolved config."""

import json

import numpy as np
import pytest
import yaml

from smil_keras.errors import ConfigError
from smil_keras.models import VARIANTS
from smil_keras.training import TrainConfig, step_decay


def test_defaults_are_the_papers_recipe():
    config = TrainConfig()
    assert (config.learning_rate, config.lr_decay_every, config.lr_decay_factor) == (2e-4, 5, 0.5)
    assert (config.epochs, config.batch_size, config.instances) == (30, 32, 8)
    assert (config.variant, config.backbone, config.image_size) == ("s-mil-t", "xception", 299)


def test_step_decay_halves_every_five_epochs():
    expected = [2e-4 * 0.5 ** (epoch // 5) for epoch in range(30)]
    assert [step_decay(epoch) for epoch in range(30)] == pytest.approx(expected)
    assert step_decay(29) == pytest.approx(2e-4 / 32)
    assert step_decay(7, initial=1.0, every=2, factor=0.1) == pytest.approx(1e-3)


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_config_file_in_yaml_or_json(tmp_path, suffix):
    values = {
        "train_data": "bags/train",
        "epochs": 3,
        "learning_rate": 1e-3,
        "model_kwargs": {"filters": 16},
        "weights": None,
    }
    path = tmp_path / f"run.{suffix}"
    path.write_text(json.dumps(values) if suffix == "json" else yaml.safe_dump(values))
    config = TrainConfig.from_file(path)
    assert config.train_data == ["bags/train"]
    assert (config.epochs, config.learning_rate, config.weights) == (3, 1e-3, None)
    assert config.model_kwargs == {"filters": 16}
    assert config.batch_size == 32  # untouched keys keep the paper's value


def test_command_line_strings_are_parsed_to_the_field_types():
    config = TrainConfig().override(
        {
            "learning_rate": "2e-3",
            "epochs": "4",
            "instances": "12",
            "weights": "none",
            "model_kwargs": "{filters: 8}",
            "jit_compile": "true",
            "run_dir": "runs/1",
            "steps_per_epoch": "null",
            "mixed_precision": "None",
        }
    )
    assert config.learning_rate == 2e-3 and config.epochs == 4
    assert config.instances == 12 and config.weights is None
    assert config.steps_per_epoch is None and config.mixed_precision is None
    assert config.model_kwargs == {"filters": 8} and config.jit_compile is True
    assert config.run_dir == "runs/1"


def test_override_changes_only_the_given_fields_and_none_is_a_value():
    config = TrainConfig(epochs=7).override({"weights": None, "batch_size": 4})
    assert (config.epochs, config.batch_size, config.weights) == (7, 4, None)


def test_unknown_key_in_a_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\nlearnig_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"learnig_rate.*bad\.yaml") as error:
        TrainConfig.from_file(path)
    assert error.value.key == "learnig_rate"


# (key, value, expected type) of values a user can plausibly write; each must be refused when
# the config is built, naming the key, the value and the type expected.
WRONG_VALUES = [
    ("epochs", "ten", "an integer >= 1"),
    ("epochs", None, "an integer >= 1"),
    ("epochs", 0, "an integer >= 1"),
    ("epochs", True, "an integer >= 1"),
    ("batch_size", 2.5, "an integer >= 1"),
    ("batch_size", 4.0, "an integer >= 1"),
    ("instances", None, "an integer >= 1"),
    ("learning_rate", None, "a number > 0"),
    ("learning_rate", "fast", "a number > 0"),
    ("learning_rate", -1e-3, "a number > 0"),
    ("learning_rate", float("nan"), "a number > 0"),
    ("margin", 0.0, "a number > 0"),
    ("steps_per_epoch", 0, "an integer >= 1 or null"),
    ("seed", 1.5, "an integer"),
    ("flip", "sometimes", "true or false"),
    ("variant", None, "a string"),
    ("weights", 3, "a string or null"),
    ("train_data", 5, "a path or a list of paths"),
    ("model_kwargs", [1], "a mapping"),
]


@pytest.mark.parametrize("key, value, expected", WRONG_VALUES)
def test_a_value_of_the_wrong_type_names_the_key_the_value_and_the_type(key, value, expected):
    with pytest.raises(ConfigError) as error:
        TrainConfig(**{key: value})
    assert error.value.key == key
    message = str(error.value)
    assert f"'{key}'" in message and f"expected {expected}," in message
    assert repr(value) in message and type(value).__name__ in message


@pytest.mark.parametrize(
    "key, text",
    [
        ("learning_rate", "null"),
        ("epochs", "none"),
        ("epochs", "ten"),
        ("batch_size", "2.5"),
        ("learning_rate", "~"),
    ],
)
def test_command_line_values_of_the_wrong_type_are_config_errors(key, text):
    with pytest.raises(ConfigError, match=f"'{key}': expected") as error:
        TrainConfig().override({key: text})
    assert error.value.key == key


@pytest.mark.parametrize(
    "text, key",
    [
        ('epochs: "ten"\n', "epochs"),
        ("learning_rate: null\n", "learning_rate"),
        ("batch_size: 2.5\n", "batch_size"),
    ],
)
def test_a_wrong_value_in_a_file_names_the_key_the_value_and_the_file(tmp_path, text, key):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"'{key}': expected .* \\(in .*run\\.yaml\\)"):
        TrainConfig.from_file(path)


def test_file_values_and_overrides_are_checked_together(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("balance: true\nepochs: 2\n")
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        TrainConfig.from_file(path)
    config = TrainConfig.from_file(path, {"steps_per_epoch": "10"})  # flags complete the file
    assert (config.balance, config.steps_per_epoch, config.epochs) == (True, 10, 2)
    with pytest.raises(ConfigError, match="'epochs'") as error:  # an override's error
        TrainConfig.from_file(path, {"epochs": "none", "steps_per_epoch": 10})
    assert "run.yaml" not in str(error.value)


def test_accepted_values_are_converted_to_the_field_types(tmp_path):
    config = TrainConfig(epochs=np.int64(3), learning_rate=1, train_data=tmp_path, val_data=None)
    assert type(config.epochs) is int and config.epochs == 3
    assert type(config.learning_rate) is float and config.learning_rate == 1.0
    assert config.train_data == [str(tmp_path)] and config.val_data == []


def test_variant_and_monitor_are_checked_against_what_exists():
    assert TrainConfig(variant=VARIANTS[0]).variant == VARIANTS[0]
    with pytest.raises(ConfigError, match="'variant'.*'smil'"):
        TrainConfig(variant="smil")
    with pytest.raises(ConfigError, match="'monitor'.*val_acc"):
        TrainConfig(monitor="val_acc")  # Keras' name is val_accuracy: best.keras never saved
    with pytest.raises(ConfigError, match="monitor_mode.*'min'"):
        TrainConfig(monitor="val_loss")  # a loss picked with "max" keeps the worst epoch
    assert TrainConfig(monitor="loss", monitor_mode="min").monitor == "loss"


def test_missing_or_malformed_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        TrainConfig.from_file(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="list.yaml"):
        TrainConfig.from_file(path)
    path.write_text("epochs: [1\n")
    with pytest.raises(ValueError, match="list.yaml.*not valid YAML"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize(
    "field, value",
    [("mixed_precision", "float8"), ("strategy", "tpu"), ("epochs", 0), ("monitor_mode", "up")],
)
def test_invalid_values_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_saved_config_reloads_equal(tmp_path):
    config = TrainConfig(train_data=["a", "b"], epochs=2, mixed_precision="mixed_bfloat16")
    assert TrainConfig.from_file(config.save(tmp_path / "run" / "config.yaml")) == config


def test_augmentation_options_are_validated_and_balance_needs_steps_per_epoch():
    assert TrainConfig(margin=1.5, flip=False).margin == 1.5
    with pytest.raises(ValueError, match="margin"):
        TrainConfig(margin=0.0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        TrainConfig(balance=True)
    assert TrainConfig(balance=True, steps_per_epoch=4).balance
    with pytest.raises(ConfigError, match="one class"):
        TrainConfig(balance=True, steps_per_epoch=4, allow_one_class=True)


def test_instances_is_the_number_of_faces_drawn_per_bag_and_saved_configs_keep_it(tmp_path):
    assert TrainConfig().instances == 8  # the paper's 8 of 20 faces
    config = TrainConfig(instances=3, allow_one_class=True, restore_best=False)
    reloaded = TrainConfig.from_file(config.save(tmp_path / "config.yaml"))
    assert (reloaded.instances, reloaded.allow_one_class, reloaded.restore_best) == (3, True, False)
