"""Training on several devices and hosts, the parts that need no cluster: which cluster the
launcher's environment describes, how shard files and batches are split among processes, what
the TensorFlow backend refuses, and the numeric mask a tf.distribute strategy is fed.

The training runs themselves (2 devices or 2 processes against 1) are in
`test_distributed_training.py`.
"""

import numpy as np
import pytest
import tensorflow as tf

from smil_keras.bags import BagRecord, BagShardWriter
from smil_keras.cli.main import build_parser
from smil_keras.cli.train import resolve_config
from smil_keras.data import make_bag_dataset
from smil_keras.errors import ConfigError
from smil_keras.models import build_detector
from smil_keras.training import TrainConfig
from smil_keras.training.distribution import (
    Cluster,
    TrainingDistribution,
    cluster_from_environment,
    resolve_distribution,
    shard_files,
)

SIZE = 32


def write_bags(folder, bags_per_shard):
    """Shards of bags whose faces are one flat grey, `16 * id + 8` for bag `id`, so the bag a
    batch row came from can be read back from its pixels; returns the shard paths."""
    paths, next_id = [], 0
    for shard, count in enumerate(bags_per_shard):
        with BagShardWriter(folder, prefix=f"part{shard}", videos_per_shard=count) as writer:
            for _ in range(count):
                crops = [np.full((SIZE, SIZE, 3), 16 * next_id + 8, np.uint8)] * 3
                writer.write(
                    BagRecord(f"bag{next_id}", f"bag{next_id}.mp4", crops, label=next_id % 2)
                )
                next_id += 1
        paths.extend(sorted(str(path) for path in folder.glob(f"part{shard}-*.tfrecord")))
    return paths


def bag_ids(faces):
    """The bag id of each row of a batch of faces (`write_bags`' flat greys)."""
    return np.rint((np.asarray(faces)[:, 0, 0, 0, 0].astype(float) - 8) / 16).astype(int).tolist()


# --- the cluster a launcher describes -------------------------------------------------------


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, Cluster()),
        (
            {
                "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234",
                "KERAS_DISTRIBUTION_NUM_PROCESSES": "4",
                "KERAS_DISTRIBUTION_PROCESS_ID": "3",
            },
            ("10.0.0.1:1234", 4, 3),
        ),
        (  # torchrun, Kubeflow's PyTorchJob
            {"MASTER_ADDR": "node0", "MASTER_PORT": "29400", "WORLD_SIZE": "2", "RANK": "1"},
            ("node0:29400", 2, 1),
        ),
        # srun, mpirun: JAX finds the coordinator and the process id itself
        ({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5"}, (None, 8, None)),
        ({"OMPI_COMM_WORLD_SIZE": "2"}, (None, 2, None)),
        ({"SLURM_STEP_NUM_TASKS": "1", "WORLD_SIZE": "1"}, Cluster()),  # one process
    ],
)
def test_the_cluster_is_read_from_the_launchers_environment(environ, expected):
    cluster = cluster_from_environment(TrainConfig(), environ)
    if isinstance(expected, Cluster):
        assert cluster == expected
    else:
        assert (cluster.coordinator_address, cluster.num_processes, cluster.process_id) == expected


def test_config_fields_win_over_the_environment():
    environ = {"MASTER_ADDR": "node0", "MASTER_PORT": "1", "WORLD_SIZE": "4", "RANK": "3"}
    config = TrainConfig(coordinator_address="127.0.0.1:5000", num_processes=2, process_id=0)
    cluster = cluster_from_environment(config, environ)
    assert (cluster.coordinator_address, cluster.num_processes, cluster.process_id) == (
        "127.0.0.1:5000",
        2,
        0,
    )


def test_a_process_id_out_of_range_or_a_bad_variable_is_refused_naming_it():
    with pytest.raises(ConfigError, match="process_id.*expected 0 .. 1 for 2 processes"):
        cluster_from_environment(TrainConfig(num_processes=2, process_id=2), {})
    with pytest.raises(ConfigError, match="WORLD_SIZE.*'two'"):
        cluster_from_environment(TrainConfig(), {"WORLD_SIZE": "two"})
    unknown_address = cluster_from_environment(TrainConfig(num_processes=2, process_id=0), {})
    with pytest.raises(ConfigError, match="coordinator_address.*2 processes.*--coordinator-add"):
        unknown_address.check_joinable()
    unknown_id = cluster_from_environment(
        TrainConfig(coordinator_address="h:1"), {"WORLD_SIZE": "2"}
    )
    with pytest.raises(ConfigError, match="process_id.*WORLD_SIZE=2.*--process-id"):
        unknown_id.check_joinable()
    cluster_from_environment(TrainConfig(), {"SLURM_STEP_NUM_TASKS": "2"}).check_joinable()


def test_cli_flags_set_the_distribution_fields():
    args = build_parser().parse_args(
        [
            "train",
            "--train",
            "bags",
            "--distribution",
            "data_parallel",
            "--coordinator-address",
            "10.0.0.1:1234",
            "--num-processes",
            "2",
            "--process-id",
            "1",
        ]
    )
    config = resolve_config(args)
    assert (
        config.distribution,
        config.coordinator_address,
        config.num_processes,
        config.process_id,
    ) == ("data_parallel", "10.0.0.1:1234", 2, 1)


# --- what the TensorFlow backend refuses ------------------------------------------------------


def test_tensorflow_refuses_several_hosts_and_says_why(monkeypatch):
    with pytest.raises(ConfigError, match=r"num_processes.*JAX backend.*#20585"):
        resolve_distribution(TrainConfig(num_processes=2, process_id=0))
    monkeypatch.setenv("WORLD_SIZE", "2")  # as a launcher says it
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="WORLD_SIZE=2"):
        resolve_distribution(TrainConfig())


def test_data_parallel_needs_the_jax_backend():
    with pytest.raises(ConfigError, match="distribution.*JAX backend.*strategy='mirrored'"):
        resolve_distribution(TrainConfig(distribution="data_parallel"))


# --- how data is split among processes and devices --------------------------------------------


def test_whole_shard_files_are_split_balancing_the_bags():
    counts = {"a": 5, "b": 1, "c": 4, "d": 2, "e": 3}
    parts = shard_files(counts, 2)
    assert sorted(sum(parts, [])) == sorted(counts)  # every file once
    assert [sum(counts[path] for path in part) for part in parts] == [8, 7]
    assert parts == shard_files(dict(counts), 2)  # every process computes the same split
    assert shard_files(counts, 1) == [list(counts)]


def test_each_bag_is_read_once_per_epoch_by_one_process(tmp_path):
    # 8 bags in shards of 4, 2 and 2: process 0 reads the first file, process 1 the other two.
    paths = write_bags(tmp_path, [4, 2, 2])
    seen, steps = [], []
    for process in range(2):
        distribution = TrainingDistribution(num_replicas=2, cluster=Cluster("host:1", 2, process))
        dataset = distribution.bag_dataset(
            make_bag_dataset,
            paths,
            training=True,
            batch_size=4,
            instances=3,
            image_size=SIZE,
            seed=1,
        )
        batches = [bag_ids(inputs["faces"]) for inputs, _ in dataset]
        assert all(len(batch) == 2 for batch in batches)  # half the global batch of 4
        steps.append(len(batches))
        seen.append(sum(batches, []))
    assert steps == [2, 2]  # the same number of steps in both processes
    assert sorted(seen[0]) == [0, 1, 2, 3] and sorted(seen[1]) == [4, 5, 6, 7]


def test_uneven_shards_give_every_process_the_same_steps_dropping_the_rest(tmp_path, caplog):
    paths = write_bags(tmp_path, [4, 3, 1, 1])  # 9 bags: 5 and 4 by process (balanced)
    steps = []
    for process in range(2):
        distribution = TrainingDistribution(num_replicas=2, cluster=Cluster("host:1", 2, process))
        dataset = distribution.bag_dataset(
            make_bag_dataset, paths, training=False, batch_size=4, image_size=SIZE
        )
        ids = [bag_ids(inputs["faces"]) for inputs, _ in dataset]
        steps.append(len(ids))
        assert len(set(sum(ids, []))) == len(sum(ids, []))  # no bag twice
    assert steps == [2, 2]
    assert "1 of 9 validation bags are left out of each epoch" in caplog.text


def test_a_global_batch_that_does_not_divide_among_devices_is_refused(tmp_path):
    paths = write_bags(tmp_path, [4])
    distribution = TrainingDistribution(num_replicas=4)
    with pytest.raises(ConfigError, match="batch_size.*6 bags per batch.*multiple of 4"):
        distribution.bag_dataset(make_bag_dataset, paths, training=False, batch_size=6)


def test_fewer_shard_files_than_processes_are_refused(tmp_path):
    paths = write_bags(tmp_path, [8])
    distribution = TrainingDistribution(num_replicas=2, cluster=Cluster("host:1", 2, 0))
    with pytest.raises(ConfigError, match="train_data.*1 training shard file.*2 processes"):
        distribution.bag_dataset(make_bag_dataset, paths, training=True, batch_size=2)


# --- the mask under a tf.distribute strategy --------------------------------------------------


def test_a_strategy_is_fed_the_mask_as_uint8_and_the_detector_reads_it_as_bool(tmp_path):
    # Keras sums the first batch across replicas, which a bool tensor cannot be (AddN).
    paths = write_bags(tmp_path, [4])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    distribution = TrainingDistribution(strategy=strategy, num_replicas=1)
    dataset = distribution.bag_dataset(
        make_bag_dataset, paths, training=False, batch_size=2, instances=4, image_size=SIZE
    )
    assert dataset.element_spec[0]["mask"].dtype == tf.uint8

    detector = build_detector("s-mil-t", backbone="tiny", image_size=SIZE, filters=4)
    faces = np.random.default_rng(0).uniform(0, 255, (2, 4, SIZE, SIZE, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    expected = detector.predict({"faces": faces, "mask": mask.astype(bool)}, verbose=0)
    for dtype in ("uint8", "float32"):
        got = detector.predict({"faces": faces, "mask": mask.astype(dtype)}, verbose=0)
        np.testing.assert_array_equal(got, expected)
