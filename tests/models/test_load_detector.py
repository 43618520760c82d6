"""load_detector: a bad model file is named with its problem, never "File not found"."""

import zipfile

import keras
import pytest

from smil_keras.errors import ModelFileError
from smil_keras.evaluation import load_detector
from smil_keras.faces import FaceView
from smil_keras.models import build_detector


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "detector.keras"
    build_detector("s-mil", backbone="tiny", image_size=32, filters=4, margin=1.4).save(path)
    return path


def test_a_detector_loads_with_its_view(saved):
    assert load_detector(saved).view == FaceView(32, 1.4, 8, "tiny")


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0], ids=["half", "all-but-the-end", "empty"])
def test_a_truncated_file_is_reported_as_corrupt_or_truncated(saved, tmp_path, keep):
    data = saved.read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="corrupt or truncated") as error:
        load_detector(cut)
    assert str(cut) in str(error.value) and "not found" not in str(error.value).lower()


def test_a_damaged_member_is_reported_as_corrupt(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:  # zero bytes inside the weights' compressed data
        info = archive.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 64
    data[start : start + 256] = bytes(256)
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt or truncated") as error:
        load_detector(damaged)
    assert str(damaged) in str(error.value)


def test_other_bad_files_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_detector(tmp_path / "missing.keras")
    weights = tmp_path / "model.h5"
    weights.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="expected a .keras file"):
        load_detector(weights)
    archive = tmp_path / "notes.keras"
    with zipfile.ZipFile(archive, "w") as notes:
        notes.writestr("notes.txt", "not a model")
    with pytest.raises(ModelFileError, match="without config.json"):
        load_detector(archive)
    classifier = tmp_path / "classifier.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]).save(classifier)
    with pytest.raises(ModelFileError, match="not an S-MIL detector") as error:
        load_detector(classifier)
    assert isinstance(error.value, ValueError) and str(classifier) in str(error.value)
