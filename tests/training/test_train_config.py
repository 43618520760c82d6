"""The training config: the paper's defaults, files, overrides, the saved resolved config."""

import json

import pytest
import yaml

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
    values = {"train_data": "bags/train", "epochs": 3, "learning_rate": 1e-3,
              "model_kwargs": {"filters": 16}, "weights": None}
    path = tmp_path / f"run.{suffix}"
    path.write_text(json.dumps(values) if suffix == "json" else yaml.safe_dump(values))
    config = TrainConfig.from_file(path)
    assert config.train_data == ["bags/train"]
    assert (config.epochs, config.learning_rate, config.weights) == (3, 1e-3, None)
    assert config.model_kwargs == {"filters": 16}
    assert config.batch_size == 32  # untouched keys keep the paper's value


def test_command_line_strings_are_parsed_to_the_field_types():
    config = TrainConfig().override(
        {"learning_rate": "2e-3", "epochs": "4", "instances": "null", "weights": "none",
         "model_kwargs": "{filters: 8}", "jit_compile": "true", "run_dir": "runs/1"}
    )
    assert config.learning_rate == 2e-3 and config.epochs == 4
    assert config.instances is None and config.weights is None
    assert config.model_kwargs == {"filters": 8} and config.jit_compile is True
    assert config.run_dir == "runs/1"


def test_override_changes_only_the_given_fields_and_none_is_a_value():
    config = TrainConfig(epochs=7).override({"weights": None, "batch_size": 4})
    assert (config.epochs, config.batch_size, config.weights) == (7, 4, None)


def test_unknown_key_in_a_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\nlearnig_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*learnig_rate"):
        TrainConfig.from_file(path)


def test_missing_or_malformed_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        TrainConfig.from_file(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="list.yaml"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize("field, value", [("mixed_precision", "float8"), ("strategy", "tpu"),
                                          ("epochs", 0), ("monitor_mode", "up")])
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
