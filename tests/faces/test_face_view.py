"""`FaceView`: every field is checked where the view is made (a `.keras` config or a SavedModel's
view.json included), `check` names the field that differs, and the config is plain JSON."""

import json

import pytest

from smil_keras.errors import ViewMismatchError
from smil_keras.faces import FaceView

BAD_FIELDS = [
    ("image_size", 0, "image_size must be a positive int"),
    ("image_size", 32.0, "image_size must be a positive int"),
    ("image_size", True, "image_size must be a positive int"),
    ("margin", 0, "margin must be a positive number"),
    ("margin", "1.3", "margin must be a positive number"),
    ("margin", float("nan"), "margin must be a positive number"),
    ("instances", 0, "instances must be a positive int"),
    ("preprocessing", "", "preprocessing must be a backbone's preprocessing name"),
    ("preprocessing", None, "preprocessing must be a backbone's preprocessing name"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_a_bad_field_is_refused_naming_it(field, value, message):
    with pytest.raises(ValueError, match=message):
        FaceView(**{field: value})


def test_the_config_is_plain_json_and_round_trips():
    view = FaceView(image_size=64, margin=1, instances=3, preprocessing="tiny")
    assert view.margin == 1.0 and isinstance(view.margin, float)
    config = json.loads(json.dumps(view.get_config()))
    assert config == {"image_size": 64, "margin": 1.0, "instances": 3, "preprocessing": "tiny"}
    assert FaceView.from_config(config) == view


def test_check_passes_agreeing_or_unset_values_and_names_the_one_that_differs():
    view = FaceView(image_size=64, margin=1.3)
    view.check(image_size=64, margin=None)
    with pytest.raises(ViewMismatchError, match=r"trained with margin=1\.3, but margin=1\.5"):
        view.check(image_size=64, margin=1.5)
