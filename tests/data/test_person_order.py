"""`make_bag_dataset(persons=True)`: bags ordered person by person, against a NumPy reference.

Every face crop is a flat colour that encodes its bag and its position in the record
(`write_flat_bags`, tests/data/conftest.py), so the faces of a batch can be traced back to the
record after JPEG coding. The people of the bags are hand-written tracks, interleaved as two
people talking (A, B, A, B, ...), with untracked faces (-1) and records without any track.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from smil_keras.data import make_bag_dataset  # noqa: E402
from smil_keras.evaluation.video_predictor import person_order  # noqa: E402
from smil_keras.faces import Face  # noqa: E402

SIZE = 16
# The track id of each face of each bag, faces in frame order (two faces share a frame when
# two people are in it), and the bag's label.
A, B, C = 5, 9, 2
BAGS = [
    ([A, B, A, B, A, B, A, B], 1),  # two people, alternating
    ([-1, -1, -1, -1, -1], 0),  # a record written before tracking: no track at all
    ([B, -1, A, B, -1, A, A, C, B, C], 1),  # three people and untracked faces
    ([C], 0),  # one face
    ([A, A, A, B, B, A, C, C, A, B, A, C], 1),  # people who leave and come back
    ([B, A, B, A], 0),
]


def frames_of(tracks):
    """Frame index of each face: a new frame whenever a track shows up again (two people of
    one frame share it)."""
    frames, seen, frame = [], set(), 0
    for track in tracks:
        if track in seen:
            frame, seen = frame + 1, set()
        seen.add(track)
        frames.append(frame)
    return np.array(frames)


def face_labels_of(b, n):
    return (np.arange(n) * 7 + b) % 3 - 1  # -1, 0 and 1, different from face to face


def reference_order(tracks):
    """NumPy: the person of each track in order of first appearance, and the faces sorted
    (stably) by person: `(order, person_ids in that order)`."""
    person_of = {}
    for track in tracks:
        person_of.setdefault(track, len(person_of))
    ids = np.array([person_of[track] for track in tracks], dtype=int)
    order = np.argsort(ids, kind="stable")
    return order, ids[order]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, write_flat_bags):
    bags = [
        dict(
            faces=len(tracks),
            label=label,
            frame_indices=frames_of(tracks),
            track_ids=None if set(tracks) == {-1} else tracks,  # None: stored as -1
            face_labels=face_labels_of(b, len(tracks)),
        )
        for b, (tracks, label) in enumerate(BAGS)
    ]
    return write_flat_bags(tmp_path_factory.mktemp("bags"), bags, SIZE, 4)


def rows(dataset, positions):
    """`(bag, positions, person_ids, face_labels, mask)` of every bag of the batches, the faces
    decoded by `positions` (the `flat_positions` fixture)."""
    out = []
    for inputs, _ in dataset:
        faces, mask = inputs["faces"].numpy(), inputs["mask"].numpy()
        assert inputs["person_ids"].dtype == tf.int32
        assert inputs["person_ids"].shape == mask.shape
        for row in range(faces.shape[0]):
            (b,) = set(positions(faces[row], channel=1)[mask[row]])
            out.append(
                (
                    b,
                    positions(faces[row])[mask[row]],
                    inputs["person_ids"].numpy()[row],
                    inputs["face_labels"].numpy()[row],
                    mask[row],
                )
            )
    return out


def check_row(b, chosen, got_positions, person_ids, face_labels, mask):
    """The faces `chosen` of bag `b` (record positions, frame order), as the reference orders
    them: positions, person ids (-1 on padding), face labels (-1 on padding)."""
    tracks = np.array(BAGS[b][0])
    order, expected_ids = reference_order(tracks[chosen])
    expected = np.asarray(chosen)[order]
    np.testing.assert_array_equal(got_positions, expected)
    np.testing.assert_array_equal(person_ids[mask], expected_ids)
    assert (person_ids[~mask] == -1).all()
    np.testing.assert_array_equal(face_labels[mask], face_labels_of(b, len(tracks))[expected])
    assert (face_labels[~mask] == -1).all()
    assert mask[: len(chosen)].all() and not mask[len(chosen) :].any()  # faces, then padding


def test_eval_bags_are_ordered_person_by_person_like_the_reference(shards, flat_positions):
    dataset = make_bag_dataset(
        shards, training=False, batch_size=4, image_size=SIZE, face_labels=True, persons=True
    )
    got = rows(dataset, flat_positions)
    assert [row[0] for row in got] == list(range(len(BAGS)))  # record order, as without persons
    for b, got_positions, person_ids, face_labels, mask in got:
        check_row(b, np.arange(len(BAGS[b][0])), got_positions, person_ids, face_labels, mask)
    # The two people talking: A's four faces in time order, then B's.
    np.testing.assert_array_equal(got[0][1], [0, 2, 4, 6, 1, 3, 5, 7])
    np.testing.assert_array_equal(got[0][2], [0, 0, 0, 0, 1, 1, 1, 1, -1, -1])  # padded to 10


def test_the_order_is_smil_predicts(shards, flat_positions):
    """Training and evaluation order a bag's faces as `smil predict` orders a video's."""
    dataset = make_bag_dataset(
        shards, training=False, batch_size=8, image_size=SIZE, face_labels=True, persons=True
    )
    for b, got_positions, person_ids, _, mask in rows(dataset, flat_positions):
        tracks = BAGS[b][0]
        faces = [
            Face(int(frame), (0, 0, 9, 9), 1.0, track_id=track)
            for frame, track in zip(frames_of(tracks), tracks, strict=True)
        ]
        order, ids = person_order(faces)
        np.testing.assert_array_equal(got_positions, order)
        np.testing.assert_array_equal(person_ids[mask], ids[order])


def test_records_without_tracks_read_as_without_persons(shards):
    kwargs = dict(training=False, batch_size=8, image_size=SIZE, face_labels=True)
    (plain, _), (people, _) = (
        next(iter(make_bag_dataset(shards, **kwargs))),
        next(iter(make_bag_dataset(shards, persons=True, **kwargs))),
    )
    assert "person_ids" not in plain and set(people) == {
        "faces",
        "mask",
        "face_labels",
        "person_ids",
    }
    untracked = 1  # BAGS[1]: every face -1, as written before tracking
    for name in ("faces", "mask", "face_labels"):
        np.testing.assert_array_equal(people[name][untracked], plain[name][untracked])
    mask = plain["mask"].numpy()[untracked]
    np.testing.assert_array_equal(people["person_ids"].numpy()[untracked], np.where(mask, 0, -1))


@pytest.mark.parametrize("instances", [3, 6])
def test_training_subsets_are_the_frame_ordered_ones_in_person_order(
    shards, flat_positions, instances
):
    """Same seed, same batches and subsets as `persons=False`; each subset (padded when the
    bag is shorter) in the reference's person order, each person's faces in time order."""
    kwargs = dict(
        training=True,
        batch_size=4,
        instances=instances,
        image_size=SIZE,
        face_labels=True,
        seed=3,
        flip=False,
    )
    plain = make_bag_dataset(shards, **kwargs)
    people = make_bag_dataset(shards, persons=True, **kwargs)
    assert people.element_spec[0]["person_ids"].shape.as_list() == [None, instances]
    subsets = set()
    for _epoch in range(3):
        plain_batches = [inputs for inputs, _ in plain]
        got = rows(people, flat_positions)
        bags = [flat_positions(x["faces"].numpy(), channel=1)[:, 0] for x in plain_batches]
        assert [row[0] for row in got] == list(np.concatenate(bags))  # the same bags
        chosen = [
            flat_positions(x["faces"].numpy()[row])[x["mask"].numpy()[row]]
            for x in plain_batches
            for row in range(len(x["mask"]))
        ]
        for (b, got_positions, person_ids, face_labels, mask), subset in zip(
            got, chosen, strict=True
        ):
            assert np.all(np.diff(subset) > 0)  # persons=False: frame order
            assert len(subset) == min(instances, len(BAGS[b][0]))
            check_row(b, subset, got_positions, person_ids, face_labels, mask)
            subsets.add((b, tuple(subset)))
    assert len({subset for b, subset in subsets if b == 4}) > 1  # new subsets every epoch


def test_eval_instances_spread_then_ordered_by_person(shards, flat_positions):
    dataset = make_bag_dataset(
        shards,
        training=False,
        batch_size=8,
        instances=4,
        image_size=SIZE,
        face_labels=True,
        persons=True,
    )
    for b, got_positions, person_ids, face_labels, mask in rows(dataset, flat_positions):
        n = len(BAGS[b][0])
        spread = np.arange(n) if n <= 4 else np.round(np.linspace(0, n - 1, 4)).astype(int)
        check_row(b, spread, got_positions, person_ids, face_labels, mask)
