"""What `train` returns."""

import dataclasses
import pathlib

import keras


@dataclasses.dataclass
class TrainResult:
    """The outcome of `train`.

    Args:
        model: the trained `keras.Model` (weights of the last epoch).
        history: one dict per epoch, read back from `run_dir/history.csv`, so it covers every
            epoch of a resumed run, not only those of the last call.
        run_dir: the run folder.
        best_model_path: `run_dir/best.keras` (the best epoch by the monitored metric).
    """

    model: keras.Model
    history: list
    run_dir: pathlib.Path
    best_model_path: pathlib.Path
