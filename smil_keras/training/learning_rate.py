"""The paper's step learning-rate schedule: halve every 5 epochs (section 4.2)."""


def step_decay(epoch, initial=2e-4, every=5, factor=0.5):
    """Learning rate at `epoch` (0-based): `initial * factor ** (epoch // every)`.

    The paper trains with 2e-4 "reduced to half every 5 epochs" (section 4.2). It is a function
    of the epoch, so a resumed run (`BackupAndRestore`) gets the same rate as an uninterrupted
    one; use it with `keras.callbacks.LearningRateScheduler`.

    Example:

    >>> [step_decay(epoch) for epoch in (0, 4, 5, 10)]
    [0.0002, 0.0002, 0.0001, 5e-05]
    """
    return initial * factor ** (epoch // every)
