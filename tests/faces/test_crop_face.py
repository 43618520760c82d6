"""Square crops: margin, position at the borders and resizing, against hand-computed regions."""

import numpy as np
import pytest

from smil_keras.faces import crop_face, square_region

HEIGHT, WIDTH = 200, 300


@pytest.fixture
def coordinate_frame():
    """Channel 0 = x, 1 = y, 2 = 7: every pixel says where it came from (uint16: x goes past
    255)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x, y, np.full_like(x, 7)], axis=-1).astype(np.uint16)


def assert_region(crop, x0, y0, side):
    assert crop.shape == (side, side, 3)
    np.testing.assert_array_equal(crop[0, :, 0], np.arange(x0, x0 + side))
    np.testing.assert_array_equal(crop[:, 0, 1], np.arange(y0, y0 + side))


def test_interior_box_gives_a_centred_square_enlarged_by_the_margin(coordinate_frame):
    # box centre (120, 80), side 1.5 * 60 = 90 -> corner (75, 35)
    assert square_region((100, 50, 40, 60), coordinate_frame.shape, margin=1.5) == (75, 35, 90)
    assert_region(crop_face(coordinate_frame, (100, 50, 40, 60), margin=1.5, size=90), 75, 35, 90)


def test_default_margin_is_faceforensics_1_3(coordinate_frame):
    # side round(1.3 * 100) = 130, centre (150, 100) -> corner (85, 35)
    assert_region(crop_face(coordinate_frame, (100, 50, 100, 100), size=130), 85, 35, 130)


def test_square_is_shifted_inside_at_the_top_left_border(coordinate_frame):
    # side 80 around centre (25, 30) would start at (-15, -10): shifted to (0, 0), nothing invented
    assert_region(crop_face(coordinate_frame, (5, 10, 40, 40), margin=2.0, size=80), 0, 0, 80)


def test_square_is_shifted_inside_at_the_bottom_right_border(coordinate_frame):
    # side 26 around centre (290, 190) would start at (277, 177): shifted to (274, 174)
    assert_region(
        crop_face(coordinate_frame, (280, 180, 20, 20), margin=1.3, size=26), 274, 174, 26
    )


def test_square_larger_than_the_frame_is_padded_black_and_stays_centred(coordinate_frame):
    # side round(1.3 * 160) = 208 > height 200; centre (175, 100) -> x from 71, y from -4 to 204
    crop = crop_face(coordinate_frame, (100, 20, 150, 160), margin=1.3, size=208)
    assert crop.shape == (208, 208, 3)
    assert not crop[:4].any() and not crop[204:].any()
    np.testing.assert_array_equal(crop[4:204, 0, 1], np.arange(200))
    np.testing.assert_array_equal(crop[4, :, 0], np.arange(71, 71 + 208))
    assert (crop[4:204, :, 2] == 7).all()


def test_crop_is_resized_to_the_model_size(coordinate_frame):
    coordinate_frame = coordinate_frame.astype(np.uint8)  # the region used stays below 256
    crop = crop_face(coordinate_frame, (100, 50, 40, 60), margin=1.5, size=299)
    assert crop.shape == (299, 299, 3) and crop.dtype == np.uint8
    # The region spans x 75..164 and y 35..124; resizing keeps the coordinate ramps.
    assert crop[..., 0].mean() == pytest.approx(119.5, abs=1.0)
    assert crop[..., 1].mean() == pytest.approx(79.5, abs=1.0)
    small = crop_face(coordinate_frame, (100, 50, 40, 60), margin=1.5, size=30)
    assert small[..., 0].mean() == pytest.approx(119.5, abs=1.0)
    assert abs(int(small[0, 0, 0]) - 76) <= 1  # area average of x 75..77


def test_non_rgb_frame_is_rejected():
    with pytest.raises(ValueError, match="H, W, 3"):
        crop_face(np.zeros((10, 10), np.uint8), (0, 0, 5, 5))
