"""Tracking by position (greedy IoU) and appearance on synthetic boxes and frames."""

import numpy as np
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


def frame_with(*patches, shape=(60, 80)):
    """A black RGB frame with `(box, colour)` patches painted in."""
    frame = np.zeros((*shape, 3), np.uint8)
    for (x, y, w, h), colour in patches:
        frame[y : y + h, x : x + w] = colour
    return frame


RED, DARK_RED, GREEN = (255, 0, 0), (100, 0, 0), (0, 255, 0)
# The descriptor sees the central 80% of a box, resized to 30 x 30 px: here the square of side
# round(0.8 * 38) = 30 at (14, 14), taken without resampling, so colours are not blended.
BOX = (10, 10, 38, 38)


def test_a_different_looking_face_in_the_same_place_starts_a_new_track():
    # A shot cut: the same box, another person. By position alone it is one track.
    frames = [frame_with((BOX, RED)), frame_with((BOX, GREEN))]
    position_only = link_tracks([faces(0, BOX), faces(1, BOX)])
    assert [f.track_id for frame in position_only for f in frame] == [0, 0]
    tracked = link_tracks([faces(0, BOX), faces(1, BOX)], frames=frames)
    assert [f.track_id for frame in tracked for f in frame] == [0, 1]


def test_brightness_changes_do_not_split_a_track():
    # Hue and saturation only: the same red, darker (a light change, another exposure).
    frames = [frame_with((BOX, RED)), frame_with((BOX, DARK_RED))]
    tracked = link_tracks(
        [faces(0, BOX), faces(1, BOX)], frames=frames, max_appearance_distance=1e-6
    )
    assert [f.track_id for frame in tracked for f in frame] == [0, 0]


def test_appearance_distance_is_the_hellinger_distance_of_the_grid_histograms():
    # Second face: the top third of what the descriptor sees green, the rest red. Of the 3 x 3
    # cells (each 1/9 of the mass), 6 stay in the same bin: Bhattacharyya coefficient 6/9,
    # distance sqrt(1/3).
    top_third = (0, 0, 60, 14 + 10)  # rows 14-23 of the descriptor's square, and above it
    frames = [frame_with((BOX, RED)), frame_with((BOX, RED), (top_third, GREEN))]
    distance = np.sqrt(1 - 6 / 9)
    for limit, same_track in ((distance - 1e-3, False), (distance + 1e-3, True)):
        tracked = link_tracks(
            [faces(0, BOX), faces(1, BOX)], frames=frames, max_appearance_distance=limit
        )
        assert (tracked[1][0].track_id == 0) is same_track, limit


def test_with_frames_the_position_gate_is_looser_by_default():
    a, b = (10, 10, 30, 30), (27, 10, 30, 30)  # IoU 13 * 30 / (1800 - 390) = 0.277: < 0.3, > 0.1
    assert box_iou(a, b) == pytest.approx(390 / 1410)
    frames = [frame_with((a, RED)), frame_with((b, RED))]
    assert link_tracks([faces(0, a), faces(1, b)])[1][0].track_id == 1
    assert link_tracks([faces(0, a), faces(1, b)], frames=frames)[1][0].track_id == 0
    assert link_tracks([faces(0, a), faces(1, b)], 0.3, frames=frames)[1][0].track_id == 1


def test_appearance_only_vetoes_it_never_links_faces_that_do_not_overlap():
    frames = [frame_with(((0, 0, 20, 20), RED)), frame_with(((50, 30, 20, 20), RED))]
    tracked = link_tracks([faces(0, (0, 0, 20, 20)), faces(1, (50, 30, 20, 20))], frames=frames)
    assert [f.track_id for frame in tracked for f in frame] == [0, 1]


def test_frames_must_align_with_the_faces():
    with pytest.raises(ValueError, match="2 frames but 3 lists of faces"):
        link_tracks([[], [], []], frames=[frame_with(), frame_with()])
