"""Bag shards -> `tf.data` batches of faces and masks, as the S-MIL models take them."""

import tensorflow as tf

from smil_keras.bags import count_bags, find_shards, parse_bag_example, read_bags

AUTOTUNE = tf.data.AUTOTUNE


def make_bag_dataset(
    files,
    *,
    training,
    batch_size,
    instances=None,
    image_size=299,
    face_labels=False,
    shuffle_buffer=256,
    balance=False,
    cache=False,
    seed=None,
    margin=1.3,
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
    - `label`: float32 `(B, 1)`, the video label (0 real, 1 fake, -1 unknown).

    Training (sec. 4.2 of the paper: "8 frames are randomly extracted from the sampled 20 frames",
    "random crop and horizontal flip"): every epoch each bag gives a new random subset of
    `instances` faces (default 8), kept in frame order; a bag with fewer faces gives all of them,
    padded and masked (never dropped). `M = instances` in every batch, so compiled (XLA) steps
    are not retraced. Bags are shuffled (shards, then a `shuffle_buffer` of bags); bags with
    label -1 fail training with an error naming the video.

    The model's view of a face is the square of side `margin` times the face box's longer side
    (1.3, as FaceForensics++ crops and `smil predict` cuts). Stored crops usually hold more
    context than that (`smil extract` stores them with `stored_crop`: 331 px of margin 1.44
    for a 299 px view of margin 1.3), and the view is cut out of them: in training at a random
    position (the paper's random crop: a shift of the face by up to the stored context, at the
    same scale as in evaluation), in evaluation at the centre (the crop `smil predict` makes).
    All faces of a bag get the same window and the same flip, so the augmentation adds no
    frame-to-frame jitter that the temporal encoder could mistake for a manipulation. The
    window is decoded directly (`tf.io.decode_and_crop_jpeg`); it is resized only when its side
    is not `image_size` (crops stored at another scale; slower). Crops stored with no more
    context than the view (e.g. margin 1.3) give the whole crop, so training has flips only.

    Evaluation (`training=False`): bags in shard order, then record order (as `read_bags` gives
    them, so results can be matched with `read_bags(files)`), no augmentation. With
    `instances=None` every face is used and `M` is the largest bag of the batch (padded per
    batch); with `instances=k`, `k` faces evenly spread over the bag are used and `M = k`.

    Bags are parsed and their faces chosen in parallel (`num_parallel_calls`; deterministic
    order in evaluation and when `seed` is set); only the chosen faces are decoded, only their
    window, uint8. With `instances` set, a batch is decoded at once, a few bags in parallel,
    each face straight into its slot of the batch (`num_parallel_calls` batches at a time);
    batches are prefetched. Speed (`benchmarks/pipeline_speed.py`, 2 CPU cores): with crops
    stored by `smil extract` this delivers faces at 0.97 of the rate of plain JPEG decoding of
    the same crops with 1 worker, and at 0.83-0.90 with 2 (median 0.85 over seven runs); what
    is left is memory traffic (reading and checksumming the 20 faces of a bag to use 8,
    slicing, flipping). `cache=True` (when the shards fit in memory) saves the reading (0.94
    with 2 workers), and `dtype="float32"` costs several per cent more (the host's cast, and
    four times the bytes to move: 0.77 with 2 workers).

    The dataset works with `model.fit`, `model.predict` and `tf.distribute`
    (`strategy.experimental_distribute_dataset`). With `face_labels=True` the extra
    `"face_labels"` key does not match a Keras functional model's inputs (Keras refuses it), so
    give the model only `{"faces", "mask"}`, e.g.
    `model({"faces": inputs["faces"], "mask": inputs["mask"]})` in an evaluation loop.

    Args:
        files: shard folder, glob, path, or a list of them (see `smil_keras.bags.find_shards`).
        training: training (random subsets, augmentation, shuffling) or evaluation pipeline.
        batch_size: bags per batch.
        instances: faces per bag (see above); default 8 in training, all in evaluation.
        image_size: side of the faces given to the model (crops are resized when needed).
        face_labels: add `inputs["face_labels"]`.
        shuffle_buffer: bags in the shuffle buffer (training).
        balance: training only: draw real and fake bags with equal probability
            (`tf.data.Dataset.sample_from_datasets` of the two classes, each repeated). The
            dataset is then infinite: give `model.fit` a `steps_per_epoch`.
        cache: cache the records (JPEG bytes, not decoded faces: about the size of the
            shards) in memory (`True`) or in this file (a path) after the first epoch, so later
            epochs skip reading the shards.
        seed: seed of every random choice (shuffles, subsets, crops, flips); with a seed the
            sequence of batches is reproducible, and still differs from epoch to epoch.
        margin: the model's view: face crop side relative to the face box's longer side (see
            above). It must not exceed the stored crops' margin.
        random_crop: training cuts the view at a random position (else at the centre, as in
            evaluation). Tiny networks trained from scratch on small synthetic sets can learn
            much less reliably with it (`smil demo` and the tutorials turn it off: measured on
            the demo's data, final training AUC 0.76-0.98 over four seeds with it, 0.98-0.99
            without).
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
        BagFormatError: a shard whose first record is corrupt or breaks the schema (checked
            here, before training starts; a record corrupt later fails when it is reached).

    Example:

    >>> train = make_bag_dataset("bags/train", training=True, batch_size=32, instances=8)
    >>> test = make_bag_dataset("bags/test", training=False, batch_size=8)
    >>> model.fit(train, validation_data=test, epochs=30)  # doctest: +SKIP
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if training and instances is None:
        instances = 8
    if instances is not None and instances < 1:
        raise ValueError(f"instances must be at least 1 or None, got {instances}")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    if balance and not training:
        raise ValueError("balance=True is for training datasets only")
    deterministic = not training or seed is not None
    # Records stay serialized until the parallel map: a shuffle buffer of them fills at
    # reading speed at each epoch's start, and parsing runs in parallel with the decoding.
    paths = find_shards(files)
    bags = _records(paths, training, deterministic, seed, cycle_length)
    # A known length: `len(dataset)` works, and Keras shows the steps of the first epoch too.
    bags = bags.apply(tf.data.experimental.assert_cardinality(count_bags(paths)))
    if cache:
        bags = bags.cache("" if cache is True else str(cache))
    if training:
        bags = bags.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if balance:
        bags = tf.data.Dataset.sample_from_datasets(
            [bags.filter(lambda record, path, label=label: tf.equal(_label(record), label))
             .repeat() for label in (0, 1)],
            weights=[0.5, 0.5], seed=seed, rerandomize_each_iteration=True,
        )

    def plan(bag, chosen, count, corner, side, flipped):
        """What to decode of a bag (its chosen JPEGs padded to `instances` if set, and the
        window of their view), the rest of its model inputs, and its label."""
        pad = 0 if instances is None else instances - count
        # Padding slots take the bag's first face (short bags are rare); it is zeroed later.
        slots = chosen if instances is None else tf.ensure_shape(tf.pad(chosen, [[0, pad]]),
                                                                  [instances])
        per_face = {"jpegs": tf.gather(bag["faces"], slots),
                    "mask": tf.pad(tf.ones([count], tf.bool), [[0, pad]])}
        if face_labels:
            per_face["face_labels"] = tf.pad(tf.gather(bag["face_labels"], chosen), [[0, pad]],
                                             constant_values=-1)
        inputs = {name: tf.ensure_shape(value, [instances])  # a static M: XLA compiles once
                  for name, value in per_face.items()}
        inputs.update(corner=corner, side=side, flipped=flipped)
        return inputs, tf.cast(bag["label"][None], tf.float32)

    if training:
        random_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        bags = tf.data.Dataset.zip(bags, random_seeds)

        def train_bag(record, random_seed):
            bag = parse_bag_example(*record)
            tf.debugging.Assert(bag["label"] >= 0, ["training bag without a label (-1):",
                                                    bag["video"]])
            subset_seed, crop_seed, flip_seed = tf.unstack(
                tf.random.experimental.stateless_split(random_seed, 3))
            count = tf.minimum(bag["num_faces"], instances)
            order = tf.argsort(tf.random.stateless_uniform([bag["num_faces"]], subset_seed))
            chosen = tf.sort(order[:count])
            side = _view_side(bag, margin)
            free = bag["image_size"] - side  # the stored context, in pixels
            if random_crop:
                corner = tf.random.stateless_uniform([2], crop_seed, 0, free + 1, tf.int32)
            else:
                corner = tf.fill([2], free // 2)
            flipped = tf.logical_and(flip, tf.random.stateless_uniform([], flip_seed) < 0.5)
            return plan(bag, chosen, count, corner, side, flipped)

        bags = bags.map(train_bag, num_parallel_calls=num_parallel_calls,
                        deterministic=deterministic)
    else:

        def eval_bag(record, path):
            bag = parse_bag_example(record, path)
            n = bag["num_faces"]
            if instances is None:
                chosen = tf.range(n)
            else:  # `instances` faces evenly spread over the bag (all when it has fewer)
                positions = tf.linspace(0.0, tf.cast(n - 1, tf.float32), tf.minimum(n, instances))
                chosen = tf.cast(tf.round(positions), tf.int32)
            side = _view_side(bag, margin)
            corner = tf.fill([2], (bag["image_size"] - side) // 2)
            return plan(bag, chosen, tf.size(chosen), corner, side, tf.constant(False))

        bags = bags.map(eval_bag, num_parallel_calls=num_parallel_calls, deterministic=True)

    # Faces stay uint8 up to here: batching float32 would copy four times the bytes.
    if instances is None:  # bags of any length: decoded bag by bag, padded per batch

        def decode_bag(inputs, label):
            faces = _decode(inputs["jpegs"], inputs["corner"], inputs["side"], image_size,
                            inputs["flipped"])
            return _with_faces(inputs, faces), label

        bags = bags.map(decode_bag, num_parallel_calls=num_parallel_calls, deterministic=True)
        padding = {"faces": tf.constant(0, tf.uint8), "mask": False}
        if face_labels:
            padding["face_labels"] = -1
        batches = bags.padded_batch(batch_size, padding_values=(padding, 0.0),
                                    drop_remainder=drop_remainder)
    else:  # `instances` faces per bag: decoded a batch at a time, straight into the batch
        batches = bags.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda inputs, label: (_with_faces(inputs, _decode_batch(inputs, image_size)), label),
            num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    if dtype == "float32":
        batches = batches.map(lambda inputs, label: (
            {**inputs, "faces": tf.cast(inputs["faces"], tf.float32)}, label),
            num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    return batches.prefetch(AUTOTUNE)


def _records(paths, training, deterministic, seed, cycle_length):
    """`(serialized record, shard path)` of the shards: in file order, or shuffled shards
    interleaved."""
    for path in paths:
        next(read_bags(path), None)  # fails early, naming the file, on a corrupt shard

    def read(path):
        return tf.data.TFRecordDataset(path).map(lambda record: (record, path))

    records = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        records = records.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        records = records.interleave(read, cycle_length=min(cycle_length, len(paths)),
                                     num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    else:
        records = records.flat_map(read)
    return records


def _label(record):
    """The video label of a serialized bag record (-1 when missing), parsing nothing else."""
    return tf.io.parse_single_example(
        record, {"label": tf.io.FixedLenFeature([], tf.int64, -1)})["label"]


def _view_side(bag, margin):
    """Side in stored pixels of the `margin` view centred in a bag's crops (checked to fit)."""
    side = tf.cast(tf.round(tf.cast(bag["image_size"], tf.float32) * margin / bag["margin"]),
                   tf.int32)
    fits = tf.debugging.Assert(
        side <= bag["image_size"] + 1,  # + 1: float32 rounding of the stored margin
        [f"a face view of margin {margin} is wider than the stored crops of video",
         bag["video"], "(stored margin", bag["margin"], "side", bag["image_size"],
         "): extract with more context (smil_keras.faces.stored_crop) or ask a smaller margin"])
    with tf.control_dependencies([fits]):
        return tf.minimum(side, bag["image_size"])


# libjpeg-turbo crops a JPEG's columns only at MCU boundaries (16 px with the 4:2:0 chroma
# subsampling that OpenCV and most encoders write; 8 px without subsampling).
_MCU_WIDTH = 16


def _with_faces(inputs, faces):
    """The model inputs of a plan (`make_bag_dataset`'s `plan`): `faces` in place of the JPEGs
    and their window."""
    rest = {name: value for name, value in inputs.items()
            if name not in ("jpegs", "corner", "side", "flipped")}
    return {"faces": faces, **rest}


# Bags of a batch decoded at once by `_decode_batch` (on top of `num_parallel_calls` batches).
_BAGS_AT_ONCE = 4


def _decode_batch(inputs, image_size):
    """The faces `(B, M, S, S, 3)` of a batch of plans (JPEGs `(B, M)`, windows, flips, masks).

    Bag after bag (a few at once), each face is written into its slot of the batch: one copy
    for the whole batch. Stacking each bag, then batching the bags, copied every face twice;
    the 2 MB stack of each bag also made the speed vary from process to process (0.70-0.87 of
    raw decoding with 2 workers, against 0.82-0.90 this way; `benchmarks/pipeline_speed.py`)."""
    jpegs = inputs["jpegs"]
    bags, m = tf.shape(jpegs)[0], jpegs.shape[1]
    faces = tf.TensorArray(tf.uint8, size=bags * m, element_shape=[image_size, image_size, 3])

    def decode_bag(b, faces):
        views = _decode(jpegs[b], inputs["corner"][b], inputs["side"][b], image_size,
                        inputs["flipped"][b])
        for j, view in enumerate(views):
            faces = faces.write(b * m + j, view)
        return b + 1, faces

    _, faces = tf.while_loop(lambda b, _: b < bags, decode_bag, [0, faces],
                             parallel_iterations=_BAGS_AT_ONCE)
    faces = tf.reshape(faces.stack(), [bags, m, image_size, image_size, 3])
    mask = inputs["mask"]
    return tf.cond(tf.reduce_all(mask), lambda: faces,  # zero the padding slots, if any
                   lambda: tf.where(mask[:, :, None, None, None], faces, tf.constant(0, tf.uint8)))


def _decode(jpegs, corner, side, image_size, flipped):
    """JPEG crops `(n,)` -> their `side` window at `corner` `(y, x)`, mirrored if `flipped` (a
    boolean tensor), as uint8 `(image_size, image_size, 3)` faces: a list of `n` faces when `n`
    is static (one decoding op per face, cheaper than a `tf.map_fn` loop: parsing and decoding
    8 faces of 331 px, 1 thread, 4.4 against 5.6 ms), else one `(n, image_size, image_size, 3)`
    tensor.

    The window is decoded from the MCU boundary at or left of `x`, then sliced. Asked for an
    unaligned `x`, `decode_and_crop_jpeg` decodes from that boundary too, then moves every row
    with a misaligned `memmove`: on this project's AMD EPYC CPUs that costs from nothing to 25 %
    more than the whole decoding, depending on the run (`benchmarks/pipeline_speed.py`; the
    slice here costs about 4 %)."""
    shift = corner[1] % _MCU_WIDTH
    window = tf.stack([corner[0], corner[1] - shift, side, side + shift])
    n = jpegs.shape[0]

    def decode(jpeg, mirrored):
        # INTEGER_ACCURATE: the pixels OpenCV (and `BagRecord.decoded_crops`) decode, at the
        # speed of TensorFlow's default INTEGER_FAST, which differs from them by up to 14 levels.
        face = tf.io.decode_and_crop_jpeg(jpeg, window, channels=3, dct_method="INTEGER_ACCURATE")
        face = face[:, shift:shift + side]  # no copy when `shift` is 0
        return tf.reverse(face, [1]) if mirrored else face

    def decode_all(mirrored):
        if n is None:
            return [tf.map_fn(lambda jpeg: decode(jpeg, mirrored), jpegs,
                              fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))]
        return [decode(jpegs[i], mirrored) for i in range(n)]

    def resized(faces):
        return [tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
            tf.cast(face, tf.float32), [image_size, image_size])), 0, 255), tf.uint8)
            for face in faces]

    # Only flipped bags reverse: a `tf.reverse` over no axis still copies.
    faces = tf.cond(flipped, lambda: decode_all(True), lambda: decode_all(False))
    faces = tf.cond(tf.equal(side, image_size), lambda: faces, lambda: resized(faces))
    if n is None:
        return tf.ensure_shape(faces[0], [None, image_size, image_size, 3])
    return [tf.ensure_shape(face, [image_size, image_size, 3]) for face in faces]
