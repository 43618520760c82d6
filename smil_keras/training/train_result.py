"""What `train` returns."""

import dataclasses
import pathlib

import keras


@dataclasses.dataclass
class TrainResult:
    """The outcome of `train`.

    Args:
        model: the trained detector, with the weights of the best epoch by the monitored
            metric (those saved in `best.keras`), or of the last epoch with
            `TrainConfig(restore_best=False)`. Compiled, carrying its view (`model.view`).
        history: one dict per epoch, read back from `run_dir/history.csv`, so it covers every
            epoch of a resumed run, not only those of the last call.
        run_dir: the run folder.
        best_model_path: `run_dir/best.keras` (the best epoch by the monitored metric).

    Example:

    >>> result = train(config)  # doctest: +SKIP
    >>> result.model.evaluate(val_data)  # the best epoch's model  # doctest: +SKIP
    >>> max(row["val_auc"] for row in result.history)  # its val_auc  # doctest: +SKIP
    """

    model: keras.Model
    history: list
    run_dir: pathlib.Path
    best_model_path: pathlib.Path
