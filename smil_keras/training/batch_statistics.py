"""Batch normalization statistics recomputed for the weights they serve ("precise BN").

Batch normalization normalizes with the statistics of the current batch in training and with
moving averages of them in evaluation. Those averages mix batches seen under older weights, and
with few steps, fast-moving weights (a network trained from scratch) and small batches of
near-identical faces (8 videos x 8 faces of one person each) they can sit far from the
statistics of the final weights. Measured on the tutorials' synthetic data (tiny backbone,
S-MIL-T, 8 steps per epoch, learning rate 3e-3): after epoch 14 the moving statistics put every
training video at fake probability 0.94 on average, video accuracy 0.50 with AUC 0.82, where the
same weights with the training set's own statistics gave accuracy 0.86 (`benchmarks/RESULTS.md`,
"Evaluation-mode collapse"). Recomputing the statistics over the training data for the current
weights (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021) removes that gap.
"""

import keras

# Batches used when neither the caller nor `fit` says how many make an epoch: at 8 faces per
# bag and 32 bags per batch, about 16,000 faces (the cited paper finds a few thousand enough).
_DEFAULT_BATCHES = 64


def batch_norm_layers(model):
    """The batch normalization layers of ``model`` (nested models included) that update their
    moving statistics in training: trainable, without batch renormalization."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
        and layer.trainable
        and not layer.renorm
    ]


def recompute_batch_statistics(model, data, max_batches=None):
    """Sets each batch normalization layer's moving mean and variance to the average of its
    batch statistics over ``data``, for the model's current weights.

    The model runs forward in training mode (no weight changes) on each batch; every layer's
    moving mean and variance become the plain average of the batch means and variances it
    sees, i.e. the normalization training applied, averaged. Layers that are frozen
    (``trainable=False``) keep theirs. With a `SMILDetector` only real faces enter the
    statistics (`FaceEncoder` fills padded slots with real faces of the same bag).

    Args:
        model: a Keras model, e.g. a detector.
        data: an iterable of batches ``(inputs, labels)`` or ``inputs``, e.g. the training
            `make_bag_dataset` (with its augmentation: the statistics training saw).
        max_batches: stop after this many batches (``None``: every batch of ``data``).

    Returns:
        The number of batches used (0 when the model has no such layer).

    Example:

    >>> train_data = make_bag_dataset("bags/train", training=True, batch_size=8)
    >>> model.fit(train_data, epochs=10)
    >>> recompute_batch_statistics(model, train_data)
    6
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for batch in data:
            if max_batches is not None and count >= max_batches:
                break
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            count += 1
            for layer in layers:  # moving = (1 - 1/n) moving + (1/n) batch: the running mean
                layer.momentum = 1.0 - 1.0 / count
            model(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return count


class RecomputeBatchStatistics(keras.callbacks.Callback):
    """`recompute_batch_statistics` at the end of every epoch of `fit`, before validation.

    It runs after the epoch's last training step, so the validation metrics, the checkpoints
    (`ModelCheckpoint`) and the model `fit` leaves behind all use statistics of the weights
    they go with. When `fit` does not know the number of steps of an epoch it runs at the end
    of the epoch instead (after validation).

    Args:
        data: the batches to compute the statistics on (the training data).
        max_batches: batches used each time; ``None``: the steps of an epoch when `fit` knows
            them, else 64.

    Example:

    >>> model.fit(train_data, validation_data=val_data, epochs=10,
    ...           callbacks=[RecomputeBatchStatistics(train_data)])
    """

    def __init__(self, data, max_batches=None):
        super().__init__()
        self.data = data
        self.max_batches = max_batches
        self._done_epoch = False

    def _steps(self):
        return (self.params or {}).get("steps")

    def _recompute(self):
        limit = self.max_batches or self._steps() or _DEFAULT_BATCHES
        recompute_batch_statistics(self.model, self.data, max_batches=limit)
        self._done_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        self._done_epoch = False

    def on_train_batch_end(self, batch, logs=None):
        steps = self._steps()
        if steps is not None and batch + 1 >= steps and not self._done_epoch:
            self._recompute()

    def on_epoch_end(self, epoch, logs=None):
        if not self._done_epoch:
            self._recompute()
