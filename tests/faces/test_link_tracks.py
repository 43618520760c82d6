"""Greedy IoU tracking on synthetic boxes."""

import pytest

from smil_keras.faces import Face, box_iou, link_tracks


def faces(frame, *boxes):
    return [Face(frame, box, 0.99) for box in boxes]


def test_box_iou_matches_hand_computed_values():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 5, 10, 10)) == pytest.approx(25 / 175)
    assert box_iou((0, 0, 10, 10), (6, 0, 10, 10)) == pytest.approx(40 / 160)


def test_two_people_keep_their_ids_when_their_order_changes():
    frames = [
        faces(0, (0, 0, 50, 50), (200, 0, 50, 50)),
        faces(1, (205, 2, 50, 50), (5, 2, 50, 50)),  # listed the other way round
        faces(2, (10, 4, 50, 50), (210, 4, 50, 50)),
    ]
    link_tracks(frames)
    assert [[f.track_id for f in frame] for frame in frames] == [[0, 1], [1, 0], [0, 1]]


def test_track_survives_a_missed_detection_and_newcomers_get_new_ids():
    frames = [
        faces(0, (0, 0, 50, 50), (200, 0, 50, 50)),
        faces(1, (4, 0, 50, 50)),  # second person missed
        faces(2, (8, 0, 50, 50), (204, 0, 50, 50), (400, 300, 40, 40)),
    ]
    link_tracks(frames)
    assert [[f.track_id for f in frame] for frame in frames] == [[0, 1], [0], [0, 1, 2]]


def test_low_overlap_starts_a_new_track_unless_the_threshold_allows_it():
    frames = [faces(0, (0, 0, 10, 10)), faces(1, (6, 0, 10, 10))]  # IoU 0.25
    link_tracks(frames, iou_threshold=0.3)
    assert frames[1][0].track_id == 1
    link_tracks(frames, iou_threshold=0.2)
    assert frames[1][0].track_id == 0


def test_greedy_matching_gives_a_track_to_the_face_overlapping_it_most():
    frames = [faces(0, (0, 0, 100, 100)), faces(1, (50, 0, 100, 100), (10, 0, 100, 100))]
    link_tracks(frames)
    assert [f.track_id for f in frames[1]] == [1, 0]


def test_empty_frames_are_fine():
    frames = [[], faces(1, (0, 0, 5, 5)), []]
    assert link_tracks(frames) is frames
    assert frames[1][0].track_id == 0
