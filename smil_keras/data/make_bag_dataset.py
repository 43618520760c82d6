"""Bag shards -> `tf.data` batches of faces and masks, as the S-MIL models take them."""

import tensorflow as tf

from smil_keras.data.bag_dataset_options import AUTOTUNE, BagDatasetOptions
from smil_keras.data.bag_plans import BagPlanner
from smil_keras.data.bag_records import bag_records, count_shard_records


def make_bag_dataset(
    files,
    *,
    training,
    batch_size,
    view=None,
    instances=None,
    image_size=None,
    margin=None,
    face_labels=False,
    persons=False,
    shuffle_buffer=256,
    balance=False,
    cache=False,
    seed=None,
    random_crop=True,
    flip=True,
    drop_remainder=False,
    num_parallel_calls=AUTOTUNE,
    cycle_length=8,
    dtype="uint8",
):
    """A `tf.data.Dataset` of bag batches read from shards written by `smil_keras.bags`.

    Each element is `(inputs, label)` with
    - `inputs["faces"]`: uint8 `(B, M, S, S, 3)` RGB, `S = image_size` (float32 values in
      [0, 255] with `dtype="float32"`); the detectors cast it themselves;
    - `inputs["mask"]`: bool `(B, M)`, True for real faces, False for padding (padded faces
      are zeros);
    - `inputs["face_labels"]` (only with `face_labels=True`): int32 `(B, M)`, the per-face labels
      of the faces given (0 real, 1 fake, -1 unknown and on padding), for frame-level metrics;
    - `inputs["person_ids"]` (only with `persons=True`): int32 `(B, M)`, the person each face
      shows, per-bag indices `0 .. P - 1` in bag order, -1 on padding (the detectors'
      optional input, see People below);
    - `label`: float32 `(B, 1)`, the video label (0 real, 1 fake, -1 unknown).

    The view of a face (`image_size`, `margin`, and the training `instances`) is the model's:
    pass `view=model.view` (a `smil_keras.faces.FaceView`) and the dataset gives the faces the
    way the detector was trained on them; an explicit argument that contradicts the view is an
    error. Without a view the defaults are `FaceView()`'s: 299 px, margin 1.3, 8 instances.

    Training (sec. 4.2 of the paper: "8 frames are randomly extracted from the sampled 20 frames",
    "random crop and horizontal flip"): every epoch each bag gives a new random subset of
    `instances` faces, kept in frame order; a bag with fewer faces gives all of them, padded
    and masked (never dropped). `M = instances` in every batch, so compiled (XLA) steps are
    not retraced. Bags are shuffled (shards, then a `shuffle_buffer` of bags); bags with label
    -1 fail training with an error naming the video.

    The model's view of a face is the square of side `margin` times the face box's longer side
    (1.3, as FaceForensics++ crops and `smil predict` cuts). Stored crops usually hold more
    context than that (`smil extract` stores them with `stored_crop`), and the view is cut out
    of them: in training at a random position (the paper's random crop: a shift of the face by
    up to the stored context, at the same scale as in evaluation), in evaluation at the centre
    (the crop `smil predict` makes). All faces of a bag get the same window and the same flip,
    so the augmentation adds no frame-to-frame jitter that the temporal encoder could mistake
    for a manipulation. The window is decoded directly (`tf.io.decode_and_crop_jpeg`); it is
    resized only when its side is not `image_size` (crops stored at another scale; slower).
    Crops stored with no more context than the view give the whole crop, so training has
    flips only.

    People (`persons=True`): the faces of each bag (all of them, or the training
    subset, or the `instances` spread ones) are ordered person by person, time order within a
    person: people are the bag's tracks (the records' `track_ids`) in order of first
    appearance, the untracked faces (-1) together one person, the rule of `smil predict`
    (`bag_plans.person_order`). S-MIL-T given `inputs["person_ids"]` then never convolves
    across two people. The face labels follow the faces. Records without tracks (all -1,
    as written before tracking) give today's order, every face of person 0. The faces
    chosen are those of `persons=False` (same seed, same subset): only their order differs.

    Evaluation (`training=False`): bags in shard order, then record order (as `read_bags` gives
    them, so results can be matched with `read_bags(files)`), no augmentation. With
    `instances=None` every face is used and `M` is the largest bag of the batch (padded per
    batch); with `instances=k`, `k` faces evenly spread over the bag are used and `M = k`.

    The pipeline, stage by stage (each in a module of its own):
    1. records (`bag_records`): serialized records with their shard's path, shuffled in
       training;
    2. plans (`bag_plans.BagPlanner`): each record parsed, its faces, window and flip chosen,
       for training or for evaluation, in parallel (`num_parallel_calls`; deterministic order
       in evaluation and when `seed` is set): JPEG bytes, no pixels yet;
    3. decoding into the batch (here): only the chosen faces, only their window, uint8; with
       a fixed `M` a batch of plans is decoded at once, each face straight into its slot of
       the batch;
    4. model inputs: the faces (cast with `dtype="float32"`), mask and label, prefetched.
    Its speed against plain JPEG decoding of the same crops is measured by
    `benchmarks/pipeline_speed.py` (figures in `benchmarks/RESULTS.md`, section 2).

    The dataset works with `model.fit`, `model.predict` and `tf.distribute`
    (`strategy.experimental_distribute_dataset`). With `face_labels=True` the extra
    `"face_labels"` key does not match a Keras functional model's inputs (Keras refuses it), so
    give the model only `{"faces", "mask"}`, e.g.
    `model({"faces": inputs["faces"], "mask": inputs["mask"]})` in an evaluation loop. The
    `"person_ids"` of `persons=True` are an optional input of the detectors
    (`smil_keras.models.SMILDetector`): `model.fit` and `model.predict` take them as they are.

    Args:
        files: shard folder, glob, path, or a list of them (see `smil_keras.bags.find_shards`).
        training: training (random subsets, augmentation, shuffling) or evaluation pipeline.
        batch_size: bags per batch.
        view: the model's `smil_keras.faces.FaceView` (`model.view`): gives `image_size`,
            `margin` and the training `instances`. None: `FaceView()`'s defaults.
        instances: faces per bag (see above); default the view's (8) in training, all in
            evaluation. With a view, training refuses another number than the view's.
        image_size: side of the faces given to the model (crops are resized when needed);
            default the view's (299).
        margin: the model's view: face crop side relative to the face box's longer side (see
            above); default the view's (1.3). It must not exceed the stored crops' margin.
        face_labels: add `inputs["face_labels"]`.
        persons: order each bag's faces person by person and add `inputs["person_ids"]` (see
            People above); False: frame order, no person ids.
        shuffle_buffer: bags in the shuffle buffer (training).
        balance: training only: draw real and fake bags with equal probability
            (`tf.data.Dataset.sample_from_datasets` of the two classes, each repeated). The
            dataset is then infinite: give `model.fit` a `steps_per_epoch`. The shards must
            hold bags of both classes (their labels are read once, when the dataset is made).
        cache: cache the records (JPEG bytes, not decoded faces: about the size of the
            shards) in memory (`True`) or in this file (a path) after the first epoch, so later
            epochs skip reading the shards.
        seed: seed of every random choice (shuffles, subsets, crops, flips); with a seed the
            sequence of batches is reproducible, and still differs from epoch to epoch.
        random_crop: training cuts the view at a random position (else at the centre, as in
            evaluation). Tiny networks trained from scratch on small synthetic sets can learn
            much less reliably with it (`smil demo` and the tutorials turn it off).
        flip: training horizontal flips (probability 0.5 per bag).
        drop_remainder: drop the last incomplete batch.
        num_parallel_calls: bags parsed at once, and batches decoded at once.
        cycle_length: shards read at once in training.
        dtype: `"uint8"` or `"float32"` faces. A Keras model casts uint8 inputs to its input
            dtype itself, on its device: uint8 saves the host a cast and moves 4x fewer bytes
            to the accelerator.

    Returns:
        `tf.data.Dataset` of known length: `len(dataset)` batches (the shards' records are
        counted without reading them, `smil_keras.bags.count_bags`); infinite with `balance`.

    Raises:
        FileNotFoundError: no shard found.
        BagFormatError: a truncated shard, or one whose first record is corrupt or breaks the
            schema (checked here, before training starts). A record corrupt later in a shard
            fails when it is reached, with an `InvalidArgumentError` naming the shard.
        NoBagsError: every shard is empty (an empty shard among others is skipped with a
            logged warning).
        ViewMismatchError: `image_size`, `margin` or (training) `instances` contradict `view`.
        ValueError: a bad argument, `drop_remainder` with fewer bags than `batch_size`, or
            `balance` with shards that hold no real or no fake bag.

    Example:

    >>> train = make_bag_dataset("bags/train", training=True, batch_size=32, view=model.view)
    >>> test = make_bag_dataset("bags/test", training=False, batch_size=8, view=model.view)
    >>> model.fit(train, validation_data=test, epochs=30)  # doctest: +SKIP
    """
    options = BagDatasetOptions.resolve(
        training=training,
        batch_size=batch_size,
        view=view,
        instances=instances,
        image_size=image_size,
        margin=margin,
        face_labels=face_labels,
        persons=persons,
        shuffle_buffer=shuffle_buffer,
        balance=balance,
        cache=cache,
        seed=seed,
        random_crop=random_crop,
        flip=flip,
        drop_remainder=drop_remainder,
        num_parallel_calls=num_parallel_calls,
        cycle_length=cycle_length,
        dtype=dtype,
    )
    counts = count_shard_records(files)
    bags = sum(counts.values())
    if drop_remainder and not balance and bags < batch_size:
        raise ValueError(
            f"the shards {', '.join(counts)} hold {bags} bags, fewer than "
            f"batch_size={batch_size}: with drop_remainder=True the dataset would have no batch"
        )
    records = bag_records(counts, options)  # 1. (serialized record, shard path)
    plans = BagPlanner(options).plans(records)  # 2. (FacePlan, inputs, label)
    batches = _decode_into_batches(plans, options)  # 3. ({"faces", "mask", ...}, label)
    return _model_inputs(batches, options)  # 4.


def _decode_into_batches(plans, options):
    """Batches of `({"faces", **inputs}, label)` from the plans of the bags.

    Faces stay uint8 here: batching float32 would copy four times the bytes."""
    size = options.image_size
    if options.instances is None:  # bags of any length: decoded bag by bag, padded per batch
        bags = plans.map(
            lambda plan, inputs, label: ({"faces": _decode_bag(plan, size), **inputs}, label),
            num_parallel_calls=options.num_parallel_calls,
            deterministic=True,
        )
        padding = {"faces": tf.constant(0, tf.uint8), "mask": False}
        if options.face_labels:
            padding["face_labels"] = -1
        if options.persons:
            padding["person_ids"] = -1
        return bags.padded_batch(
            options.batch_size, padding_values=(padding, 0.0), drop_remainder=options.drop_remainder
        )
    # `instances` faces per bag: a batch decoded at once, straight into the batch
    return plans.batch(options.batch_size, drop_remainder=options.drop_remainder).map(
        lambda plan, inputs, label: (
            {"faces": _decode_batch(plan, inputs["mask"], size), **inputs},
            label,
        ),
        num_parallel_calls=options.num_parallel_calls,
        deterministic=options.deterministic,
    )


def _model_inputs(batches, options):
    """The batches as the model takes them: faces of `options.dtype`, prefetched."""
    if options.dtype == "float32":
        batches = batches.map(
            lambda inputs, label: (
                {**inputs, "faces": tf.cast(inputs["faces"], tf.float32)},
                label,
            ),
            num_parallel_calls=options.num_parallel_calls,
            deterministic=options.deterministic,
        )
    return batches.prefetch(AUTOTUNE)


# Bags of a batch decoded at once by `_decode_batch` (on top of `num_parallel_calls` batches).
_BAGS_AT_ONCE = 4


def _decode_batch(plan, mask, image_size):
    """The faces `(B, M, S, S, 3)` of a batch of plans (`FacePlan` of JPEGs `(B, M)`, a static
    `M`), zero where `mask` `(B, M)` is False.

    Bag after bag (a few at once), each face is written into its slot of the batch: one copy
    for the whole batch. Stacking each bag, then batching the bags, copied every face twice,
    and the large stack of each bag made the speed vary from process to process
    (`benchmarks/RESULTS.md`, section 2, sixth session)."""
    bags, m = tf.shape(plan.jpegs)[0], plan.jpegs.shape[1]
    faces = tf.TensorArray(tf.uint8, size=bags * m, element_shape=[image_size, image_size, 3])

    def decode_bag(b, faces):
        views = _decode(plan.jpegs[b], plan.corner[b], plan.side[b], image_size, plan.flipped[b])
        for j, view in enumerate(views):
            faces = faces.write(b * m + j, view)
        return b + 1, faces

    _, faces = tf.while_loop(
        lambda b, _: b < bags, decode_bag, [0, faces], parallel_iterations=_BAGS_AT_ONCE
    )
    faces = tf.reshape(faces.stack(), [bags, m, image_size, image_size, 3])
    return tf.cond(
        tf.reduce_all(mask),
        lambda: faces,  # zero the padding slots, if any
        lambda: tf.where(mask[:, :, None, None, None], faces, tf.constant(0, tf.uint8)),
    )


def _decode_bag(plan, image_size):
    """The faces `(n, S, S, 3)` of one bag's plan, any number `n` of them (a loop over the
    faces; `_decode` unrolls a static number, which is cheaper)."""
    return tf.map_fn(
        lambda jpeg: _decode(jpeg[None], plan.corner, plan.side, image_size, plan.flipped)[0],
        plan.jpegs,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8),
    )


# libjpeg-turbo crops a JPEG's columns only at MCU boundaries (16 px with the 4:2:0 chroma
# subsampling that OpenCV and most encoders write; 8 px without subsampling).
_MCU_WIDTH = 16


def _decode(jpegs, corner, side, image_size, flipped):
    """JPEG crops `(n,)`, `n` static -> the list of their `n` faces, uint8
    `(image_size, image_size, 3)`: the `side` window at `corner` `(y, x)`, mirrored if
    `flipped` (a boolean tensor), resized when `side` is not `image_size`.

    One decoding op per face (cheaper than a `tf.map_fn` loop). The window is decoded from the
    MCU boundary at or left of `x`, then sliced. Asked for an unaligned `x`,
    `decode_and_crop_jpeg` decodes from that boundary too, then moves every row with a
    misaligned `memmove`, which costs much more than the slice here
    (`benchmarks/RESULTS.md`, section 2, fifth session)."""
    n = jpegs.shape[0]
    if n is None:
        raise ValueError("_decode needs a static number of faces (use _decode_bag)")
    shift = corner[1] % _MCU_WIDTH
    window = tf.stack([corner[0], corner[1] - shift, side, side + shift])

    def decode(jpeg, mirrored):
        # INTEGER_ACCURATE: the pixels OpenCV (and `BagRecord.decoded_crops`) decode, at the
        # speed of TensorFlow's default INTEGER_FAST, which differs from them by up to 14 levels.
        face = tf.io.decode_and_crop_jpeg(jpeg, window, channels=3, dct_method="INTEGER_ACCURATE")
        face = face[:, shift : shift + side]  # no copy when `shift` is 0
        return tf.reverse(face, [1]) if mirrored else face

    def resized(faces):
        faces = [tf.image.resize(tf.cast(face, tf.float32), [image_size] * 2) for face in faces]
        return [tf.cast(tf.clip_by_value(tf.round(face), 0, 255), tf.uint8) for face in faces]

    # Only flipped bags reverse: a `tf.reverse` over no axis still copies.
    faces = tf.cond(
        flipped,
        lambda: [decode(jpegs[i], True) for i in range(n)],
        lambda: [decode(jpegs[i], False) for i in range(n)],
    )
    faces = tf.cond(tf.equal(side, image_size), lambda: faces, lambda: resized(faces))
    return [tf.ensure_shape(face, [image_size, image_size, 3]) for face in faces]
