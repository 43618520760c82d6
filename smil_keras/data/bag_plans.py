"""The plan of a bag: which of its faces to decode, and which window of them, for training or
evaluation (the second stage of `make_bag_dataset`)."""

import collections

import tensorflow as tf

from smil_keras.bags import parse_bag_example

FacePlan = collections.namedtuple("FacePlan", ["jpegs", "corner", "side", "flipped"])
FacePlan.__doc__ = """What to decode of a bag: no pixels yet, only JPEG bytes and a window.

- `jpegs`: string `(M,)`, the chosen faces' JPEG crops (padding slots repeat the first face);
- `corner`: int32 `(2,)`, the `(y, x)` corner of the view in the stored crops;
- `side`: int32 scalar, the side of the view in stored pixels;
- `flipped`: bool scalar, whether the bag's faces are mirrored.

One window and one flip per bag: every face of a bag is cut and mirrored the same way.
"""


class BagPlanner:
    """Turns a serialized bag record into its plan, its per-face model inputs and its label.

    `_plan_train` and `_plan_eval` are the two ways of looking at a bag, side by side:

    - training (sec. 4.2 of the paper): a random subset of `instances` faces in frame order, the
      view cut at a random position of the stored crops (the random crop), a random flip;
    - evaluation: every face (or `instances` faces evenly spread over the bag), the view at the
      centre, never flipped: the crop `smil predict` makes.

    With `options.persons` the chosen faces (all, or the subset) are then ordered person by
    person, time order within a person (`person_order`), with their per-bag person ids.

    Args:
        options: `smil_keras.data.bag_dataset_options.BagDatasetOptions`.

    Example:

    >>> plans = BagPlanner(options).plans(records)  # doctest: +SKIP
    """

    def __init__(self, options):
        self.options = options

    def plans(self, records):
        """`(FacePlan, inputs, label)` of each `(serialized record, shard path)` of `records`,
        parsed `options.num_parallel_calls` at a time."""
        options = self.options
        if not options.training:
            return records.map(
                self._plan_eval, num_parallel_calls=options.num_parallel_calls, deterministic=True
            )
        # Each bag draws its subset, window and flip from a seed of its own.
        seeds = tf.data.Dataset.random(seed=options.seed, rerandomize_each_iteration=True)
        return tf.data.Dataset.zip(records, seeds.batch(2)).map(
            self._plan_train,
            num_parallel_calls=options.num_parallel_calls,
            deterministic=options.deterministic,
        )

    def _plan_train(self, record, random_seed):
        serialized, path = record
        bag = parse_bag_example(serialized, path)
        tf.debugging.Assert(bag["label"] >= 0, ["training bag without a label (-1):", bag["video"]])
        subset_seed, crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(random_seed, 3)
        )
        # A random subset of the faces, kept in frame order.
        count = tf.minimum(bag["num_faces"], self.options.instances)
        order = tf.argsort(tf.random.stateless_uniform([bag["num_faces"]], subset_seed))
        chosen = tf.sort(order[:count])
        # The view at a random position of the stored context (or at the centre).
        side = _view_side(bag, self.options.margin)
        free = bag["image_size"] - side  # the stored context, in pixels
        if self.options.random_crop:
            corner = tf.random.stateless_uniform([2], crop_seed, 0, free + 1, tf.int32)
        else:
            corner = tf.fill([2], free // 2)
        # Half of the bags mirrored.
        flipped = tf.logical_and(
            self.options.flip, tf.random.stateless_uniform([], flip_seed) < 0.5
        )
        return self._plan(bag, chosen, count, corner, side, flipped)

    def _plan_eval(self, record, path):
        bag = parse_bag_example(record, path)
        # Every face, or `instances` faces evenly spread over the bag (all when it has fewer).
        n = bag["num_faces"]
        if self.options.instances is None:
            chosen = tf.range(n)
        else:
            positions = tf.linspace(
                0.0, tf.cast(n - 1, tf.float32), tf.minimum(n, self.options.instances)
            )
            chosen = tf.cast(tf.round(positions), tf.int32)
        # The view at the centre of the stored crops, not flipped.
        side = _view_side(bag, self.options.margin)
        corner = tf.fill([2], (bag["image_size"] - side) // 2)
        return self._plan(bag, chosen, tf.size(chosen), corner, side, tf.constant(False))

    def _plan(self, bag, chosen, count, corner, side, flipped):
        """The plan of the faces `chosen` (`count` of them, in frame order) padded to
        `instances` if set, their mask (face labels, person ids), and the bag's label.

        With `options.persons` the chosen faces are put in person order first
        (`person_order`), and everything per face follows them."""
        instances = self.options.instances
        pad = 0 if instances is None else instances - count
        inputs = {"mask": tf.pad(tf.ones([count], tf.bool), [[0, pad]])}
        if self.options.persons:
            order, person_ids = person_order(tf.gather(bag["track_ids"], chosen))
            chosen = tf.gather(chosen, order)
        # Padding slots take the bag's first face (short bags are rare); decoding zeroes them.
        slots = chosen if instances is None else tf.pad(chosen, [[0, pad]])
        if self.options.face_labels:
            inputs["face_labels"] = tf.pad(
                tf.gather(bag["face_labels"], chosen), [[0, pad]], constant_values=-1
            )
        if self.options.persons:
            inputs["person_ids"] = tf.pad(person_ids, [[0, pad]], constant_values=-1)
        # A static M when `instances` is set: compiled (XLA) steps are not retraced.
        inputs = {name: tf.ensure_shape(value, [instances]) for name, value in inputs.items()}
        jpegs = tf.ensure_shape(tf.gather(bag["faces"], slots), [instances])
        plan = FacePlan(jpegs=jpegs, corner=corner, side=side, flipped=flipped)
        return plan, inputs, tf.cast(bag["label"][None], tf.float32)


def _view_side(bag, margin):
    """Side in stored pixels of the `margin` view centred in a bag's crops (checked to fit)."""
    side = tf.cast(
        tf.round(tf.cast(bag["image_size"], tf.float32) * margin / bag["margin"]), tf.int32
    )
    fits = tf.debugging.Assert(
        side <= bag["image_size"] + 1,  # + 1: float32 rounding of the stored margin
        [
            f"a face view of margin {margin} is wider than the stored crops of video",
            bag["video"],
            "(stored margin",
            bag["margin"],
            "side",
            bag["image_size"],
            "): extract with more context (smil_keras.faces.stored_crop) or ask a smaller margin",
        ],
    )
    with tf.control_dependencies([fits]):
        return tf.minimum(side, bag["image_size"])


def person_order(track_ids):
    """The order of a bag's faces person by person, time order within a person.

    The rule of `smil predict` (`smil_keras.evaluation.video_predictor.person_order`), on the
    faces of a record: people are the faces' tracks in order of first appearance, numbered
    `0 .. P - 1` (the faces never linked, track id -1, count as one person), and each
    person's faces keep their order, the record's frame order. Bags whose faces are all
    untracked (records written before tracking) keep their order, all of person 0.

    Args:
        track_ids: int32 `(n,)`, the track id of each face, faces in frame order.

    Returns:
        `(order, person_ids)`, int32 `(n,)` each: the bag's face `j` is face `order[j]`, of
        person `person_ids[j]` (non-decreasing).

    Example:

    >>> order, person_ids = person_order(tf.constant([7, 3, 7, -1, 3]))
    >>> order.numpy(), person_ids.numpy()
    (array([0, 2, 1, 4, 3], dtype=int32), array([0, 0, 1, 1, 2], dtype=int32))
    """
    _, persons = tf.unique(track_ids)  # the index of each face's track in order of appearance
    order = tf.argsort(persons, stable=True)
    return order, tf.gather(persons, order)
