"""Evaluation-mode batch normalization: statistics recomputed for the weights they serve.

The issue: a tiny detector trained for a few steps called every validation video fake (accuracy
0.5, AUC high) because its moving statistics lagged behind the weights. These tests pin the
mechanism: after `recompute_batch_statistics` (and after every epoch of `train`), evaluation
mode normalizes as training did.
"""

import keras
import numpy as np
import pytest

from smil_keras.data import make_bag_dataset
from smil_keras.models import build_detector
from smil_keras.training import (
    RecomputeBatchStatistics,
    TrainConfig,
    recompute_batch_statistics,
    train,
)

SIZE = 16


def tiny_detector(seed=0):
    keras.utils.set_random_seed(seed)
    return build_detector("s-mil", backbone="tiny", image_size=SIZE, filters=4)


def random_batches(count, bags=4, faces=3, seed=0):
    """`count` batches of bags of random faces; the last bag of each has one padded face."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        mask = np.ones((bags, faces), bool)
        mask[-1, -1] = False
        faces_ = rng.uniform(0, 255, (bags, faces, SIZE, SIZE, 3)).astype("float32")
        faces_[~mask] = 0
        labels = (np.arange(bags) % 2).astype("float32")[:, None]
        batches.append(({"faces": faces_, "mask": mask}, labels))
    return batches


def test_statistics_become_the_average_of_the_batch_statistics_without_padding():
    model = tiny_detector()
    batches = random_batches(3)
    # Independent reference for the first layer: the convolution's output (no normalization
    # before it) over each batch, averaged over the batches with NumPy. Padded slots hold a
    # copy of their bag's first face, as `FaceEncoder` fills them: no zero image counts.
    conv = keras.Model(model.backbone.input, model.backbone.get_layer("conv1").output)
    means, variances = [], []
    for inputs, _ in batches:
        faces = inputs["faces"].copy()
        for bag, mask in enumerate(inputs["mask"]):
            faces[bag, ~mask] = faces[bag, 0]
        out = keras.ops.convert_to_numpy(conv(faces.reshape(-1, SIZE, SIZE, 3)))
        means.append(out.astype("float64").mean(axis=(0, 1, 2)))
        variances.append(out.astype("float64").var(axis=(0, 1, 2)))
    bn1 = model.backbone.get_layer("bn1")
    momentum = bn1.momentum

    assert recompute_batch_statistics(model, batches) == 3

    np.testing.assert_allclose(bn1.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        bn1.moving_variance.numpy(), np.mean(variances, 0), rtol=1e-4, atol=1e-5
    )
    assert bn1.momentum == momentum  # restored


def test_padded_faces_do_not_enter_the_statistics():
    ((inputs, labels),) = random_batches(1)
    other = {"faces": inputs["faces"].copy(), "mask": inputs["mask"]}
    other["faces"][~inputs["mask"]] = 255.0  # other padding pixels
    stats = []
    for batch in (inputs, other):
        model = tiny_detector()
        recompute_batch_statistics(model, [(batch, labels)])
        stats.append(model.backbone.get_layer("bn3").moving_variance.numpy())
    np.testing.assert_allclose(stats[0], stats[1], rtol=1e-6)


def test_after_a_few_steps_evaluation_mode_matches_training_mode_once_recomputed():
    """The collapse's mechanism in small: weights moved by a few steps at a high learning
    rate, moving averages behind them. On a batch its statistics were computed on, evaluation
    mode then gives training mode's outputs."""
    model = tiny_detector()
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")
    batches = random_batches(4, seed=1)
    for inputs, labels in batches:
        model.train_on_batch(inputs, labels)
    inputs, _ = batches[0]
    training = keras.ops.convert_to_numpy(model(inputs, training=True))
    stale = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert np.abs(stale - training).max() > 1e-3  # what the moving averages gave

    recompute_batch_statistics(model, [batches[0]])

    evaluation = keras.ops.convert_to_numpy(model(inputs, training=False))
    np.testing.assert_allclose(evaluation, training, atol=2e-5)


def test_max_batches_stops_an_endless_dataset():
    model = tiny_detector()
    batches = random_batches(1)

    def endless():
        while True:
            yield batches[0]

    assert recompute_batch_statistics(model, endless(), max_batches=2) == 2


@pytest.mark.slow
def test_train_leaves_every_checkpoint_with_the_statistics_of_its_weights(
    tmp_path, write_random_bags
):
    """One batch per epoch (8 bags of 3 faces, no augmentation): evaluation mode of the saved
    model must reproduce training mode on that batch. With moving averages (momentum 0.9,
    2 steps) it did not."""
    shards = [str(shard) for shard in write_random_bags(tmp_path / "bags", [0, 1] * 4, SIZE)]
    config = TrainConfig(
        train_data=shards,
        run_dir=str(tmp_path / "run"),
        variant="s-mil",
        backbone="tiny",
        image_size=SIZE,
        weights=None,
        model_kwargs={"filters": 4},
        epochs=2,
        batch_size=8,
        instances=3,
        learning_rate=3e-2,
        random_crop=False,
        flip=False,
        monitor="loss",
        monitor_mode="min",
    )
    result = train(config)
    ((inputs, _),) = list(
        make_bag_dataset(shards, training=False, batch_size=8, view=result.model.view)
    )
    for name in ("last.keras", "best.keras"):
        model = keras.saving.load_model(result.run_dir / name)
        training = keras.ops.convert_to_numpy(model(inputs, training=True))
        evaluation = keras.ops.convert_to_numpy(model(inputs, training=False))
        np.testing.assert_allclose(evaluation, training, atol=1e-4, err_msg=name)


def test_the_callback_runs_after_the_last_step_before_validation():
    model = tiny_detector()
    model.compile(keras.optimizers.Adam(3e-2), "binary_crossentropy")
    batches = random_batches(2, seed=2)
    x = {k: np.concatenate([b[0][k] for b in batches]) for k in ("faces", "mask")}
    y = np.concatenate([b[1] for b in batches])
    differences = []

    class CheckAtValidation(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            training = keras.ops.convert_to_numpy(self.model(x, training=True))
            evaluation = keras.ops.convert_to_numpy(self.model(x, training=False))
            differences.append(np.abs(training - evaluation).max())

    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_data=(x, y),
        shuffle=False,
        callbacks=[RecomputeBatchStatistics([(x, y)]), CheckAtValidation()],
    )
    assert len(differences) == 2 and max(differences) < 1e-4
