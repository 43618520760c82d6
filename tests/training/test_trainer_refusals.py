"""`train` and `smil train` refuse what cannot train right, before any run folder exists.

Wrong config values, shards without bags, corrupt shards, bags without a label and training data
of one class are errors naming the key or the files (and the class counts); `smil train` prints
them as one line and exits 2. One class trains only with `allow_one_class=True`; validation data
of one class only is a logged warning (its AUC is undefined).
"""

import logging

import pytest

from smil_keras.cli.main import main
from smil_keras.errors import BagFormatError, ConfigError
from smil_keras.training import TrainConfig, train

SIZE = 32


def tiny_config(tmp_path, train_data, **changes):
    values = dict(
        train_data=train_data,
        run_dir=str(tmp_path / "run"),
        backbone="tiny",
        image_size=SIZE,
        weights=None,
        model_kwargs={"filters": 4},
        epochs=1,
        batch_size=2,
        instances=2,
        learning_rate=1e-3,
    )
    return TrainConfig(**{**values, **changes})


def run_cli(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


def test_shards_without_any_bag_are_refused_naming_them(tmp_path):
    empty = tmp_path / "bags-00000.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="no bag in the training shards") as error:
        train(tiny_config(tmp_path, [str(empty)]))
    assert str(empty) in str(error.value) and error.value.key == "train_data"
    assert not (tmp_path / "run").exists()


def test_a_corrupt_shard_is_refused_naming_it(tmp_path, write_random_bags):
    (shard,) = write_random_bags(tmp_path / "bags", [0, 1, 0, 1], SIZE)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a record: its checksum fails
    shard.write_bytes(bytes(data))
    with pytest.raises(BagFormatError) as error:
        train(tiny_config(tmp_path, [str(shard)]))
    assert error.value.path == str(shard)
    assert not (tmp_path / "run").exists()


def test_bags_without_a_label_are_refused_naming_the_shard(tmp_path, write_random_bags):
    (labelled,) = write_random_bags(tmp_path / "bags", [0, 1], SIZE, prefix="a")
    (unlabelled,) = write_random_bags(tmp_path / "bags", [1, -1, 0], SIZE, prefix="b")
    with pytest.raises(ConfigError, match="1 training bag") as error:
        train(tiny_config(tmp_path, [str(tmp_path / "bags")]))
    assert str(unlabelled) in str(error.value) and str(labelled) not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_training_data_of_one_class_is_refused_with_the_class_counts(tmp_path, write_random_bags):
    (shard,) = write_random_bags(tmp_path / "bags", [1, 1, 1], SIZE)
    with pytest.raises(ConfigError, match="one class only") as error:
        train(tiny_config(tmp_path, [str(shard)]))
    assert "0 real, 3 fake" in str(error.value) and str(shard) in str(error.value)
    assert "allow_one_class" in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_one_class_trains_when_allowed_and_validation_of_one_class_is_a_warning(
    tmp_path, write_random_bags, caplog
):
    (train_shard,) = write_random_bags(tmp_path / "train", [0, 0, 0, 0], SIZE)
    (val_shard,) = write_random_bags(tmp_path / "val", [1, 1], SIZE, seed=1)
    config = tiny_config(
        tmp_path, [str(train_shard)], val_data=[str(val_shard)], allow_one_class=True
    )
    with caplog.at_level(logging.WARNING, logger="smil_keras.training.trainer"):
        result = train(config)
    assert [row["epoch"] for row in result.history] == [0]
    warnings = [record.getMessage() for record in caplog.records]
    assert any("training data of one class only (4 real, 0 fake" in m for m in warnings)
    assert any(
        "validation data of one class only (0 real, 2 fake" in m and "AUC is undefined" in m
        for m in warnings
    )


@pytest.mark.parametrize(
    "setting, shown",
    [
        ("learning_rate=null", "got None"),
        ("epochs=none", "got None"),
        ("batch_size=2.5", "got 2.5 (float)"),
        ("epochs=ten", "got 'ten' (str)"),
    ],
)
def test_cli_wrong_config_value_is_one_line_and_exit_2(
    tmp_path, write_random_bags, capsys, setting, shown
):
    (shard,) = write_random_bags(tmp_path / "bags", [0, 1], SIZE)
    code, err = run_cli(
        ["train", "--train", str(shard), "--run-dir", str(tmp_path / "run"), "--set", setting],
        capsys,
    )
    key = setting.partition("=")[0]
    assert code == 2
    assert err.startswith(f"smil train: error: config key '{key}': expected ")
    assert shown in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_cli_wrong_value_in_a_config_file_names_the_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f'train_data: {tmp_path}\nepochs: "ten"\nrun_dir: {tmp_path / "run"}\n')
    code, err = run_cli(["train", "--config", str(config)], capsys)
    assert code == 2 and "'epochs'" in err and "'ten'" in err and str(config) in err
    assert not (tmp_path / "run").exists()


def test_cli_empty_shard_is_one_line_and_exit_2(tmp_path, capsys):
    empty = tmp_path / "bags-00000.tfrecord"
    empty.write_bytes(b"")
    code, err = run_cli(
        [
            "train",
            "--train",
            str(empty),
            "--run-dir",
            str(tmp_path / "run"),
            "--backbone",
            "tiny",
            "--weights",
            "none",
        ],
        capsys,
    )
    assert code == 2
    assert err.startswith("smil train: error:") and str(empty) in err and "no bag" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "run").exists()
