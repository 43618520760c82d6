"""Scoring bag shards with a detector: per-video and per-face scores for evaluation."""

import numpy as np
from tqdm.auto import tqdm

from smil_keras.evaluation.video_scores import VideoScores
from smil_keras.models import explain_model, frame_model


def score_bags(
    model, files, batch_size=8, instances=None, margin=None, progress=True, persons=False
):
    """Scores every bag of the shards and returns `VideoScores`.

    Each bag is scored by `explain_model(model)` (video probability, per-face probabilities
    and attention inside the bag), and each face alone by `frame_model(model)` (the paper's
    frame-level evaluation).

    With `persons`, each bag's faces come person by person (a person is a track of the
    record) with their person ids (`make_bag_dataset(persons=True)`): the detector sees them so
    (S-MIL-T's temporal convolutions stay within each person), and each person gets their own
    fake probability (`explain_model`'s ``"person_probability"``, the detector's head on that
    person's faces). The per-face lists then follow the person-by-person order, and
    `VideoScores.person_ids` / `person_probabilities` are set (the person metrics).

    Bags go through the evaluation pipeline on the detector's own view of a face
    (`make_bag_dataset(training=False, view=model.view)`: no augmentation, the centre view of
    each stored crop, at the image size and margin the detector was trained with); their ids,
    methods and labels are read alongside with `read_bags`, in the same order.

    Args:
        model: a detector (`build_detector` / `load_detector`).
        files: bag shard files, folders or globs (see `find_shards`).
        batch_size: videos per forward pass.
        instances: use only this many faces per video, evenly spread over the video (Fig. 7:
            accuracy against the number of test frames, one face per frame); `None`: all.
        margin: leave it `None`: the view's margin (`model.view.margin`) is used. A value is
            only checked against it.
        progress: show a progress bar.
        persons: score person by person (see above); `False`: the faces in frame order.

    Raises:
        ViewMismatchError: a `margin` that differs from the detector's view.

    Example:

    >>> scores = score_bags(load_detector("runs/smil/best.keras"), "bags/test")  # doctest: +SKIP
    >>> scores.metrics()["accuracy"]  # doctest: +SKIP
    0.91
    """
    # Imported here, not at module level: the bag readers and tf.data need TensorFlow, and
    # `smil_keras.evaluation` (VideoPredictor, `smil predict`) must import without it on JAX.
    from smil_keras.bags import read_bags
    from smil_keras.data import make_bag_dataset

    model.view.check(margin=margin)
    explainer = explain_model(model)
    scorer = frame_model(model)
    dataset = make_bag_dataset(
        files,
        training=False,
        batch_size=batch_size,
        view=model.view,
        instances=instances,
        face_labels=True,
        persons=persons,
    )
    records = read_bags(files)
    columns = {name: [] for name in VideoScores.__dataclass_fields__}
    keys = ("faces", "mask", "person_ids") if persons else ("faces", "mask")
    for inputs, labels in tqdm(dataset, desc="scoring bags", unit="batch", disable=not progress):
        outputs = explainer({key: inputs[key] for key in keys}, training=False)
        outputs = {name: np.asarray(value, dtype=np.float64) for name, value in outputs.items()}
        mask = np.asarray(inputs["mask"])
        counts = mask.sum(axis=1)
        frame_scores = np.zeros(mask.shape)
        frame_scores[mask] = np.asarray(scorer(np.asarray(inputs["faces"])[mask]))[:, 0]
        face_labels = np.asarray(inputs["face_labels"])
        for row, (label, count) in enumerate(zip(np.asarray(labels)[:, 0], counts, strict=True)):
            record = next(records)
            if record.label not in (0, 1):
                raise ValueError(f"bag {record.video_id} ({record.video}) has no video label")
            if record.label != label:  # never expected: both read the same shards in order
                raise RuntimeError(f"bag {record.video_id}: records and dataset out of step")
            columns["video_ids"].append(record.video_id)
            columns["methods"].append(record.method)
            columns["labels"].append(record.label)
            columns["probabilities"].append(outputs["fake_probability"][row, 0])
            columns["face_labels"].append(face_labels[row, :count])
            columns["face_probabilities"].append(outputs["face_probability"][row, :count])
            columns["attention"].append(outputs["attention"][row, :count])
            columns["frame_scores"].append(frame_scores[row, :count])
            if persons:
                person_ids = np.asarray(inputs["person_ids"][row, :count])
                columns["person_ids"].append(person_ids)
                columns["person_probabilities"].append(
                    outputs["person_probability"][row, : person_ids.max() + 1]
                )
    columns["labels"] = np.asarray(columns["labels"], dtype=int)
    columns["probabilities"] = np.asarray(columns["probabilities"], dtype=np.float64)
    if not persons:
        columns["person_ids"] = columns["person_probabilities"] = None
    return VideoScores(**columns)
