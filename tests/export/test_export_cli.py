"""`smil export`: the model's view, one-line errors with exit status 2, --overwrite."""

import pytest

from smil_keras.cli.main import main
from smil_keras.export import read_view
from smil_keras.faces import FaceView
from smil_keras.models import build_detector


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "detector.keras"
    build_detector("s-mil", backbone="tiny", image_size=40, filters=4, margin=1.4).save(path)
    return path


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_export_takes_the_image_size_and_view_from_the_model(model_file, tmp_path, capsys):
    out = tmp_path / "serving" / "1"
    code, stdout, _ = run_cli(["export", "--model", str(model_file), "--out", str(out)], capsys)
    assert code == 0 and "40 px" in stdout
    assert read_view(out) == FaceView(image_size=40, margin=1.4, instances=8, preprocessing="tiny")
    # A second export into it is refused; --overwrite replaces it.
    code, _, err = run_cli(["export", "--model", str(model_file), "--out", str(out)], capsys)
    assert code == 2 and "already holds a SavedModel" in err and "--overwrite" in err
    assert err.count("\n") == 1 and err.startswith("smil export: error:")
    code, _, _ = run_cli(
        ["export", "--model", str(model_file), "--out", str(out), "--overwrite"], capsys
    )
    assert code == 0


def test_an_out_that_is_a_file_or_a_folder_of_other_files_is_refused(model_file, tmp_path, capsys):
    a_file = tmp_path / "out"
    a_file.write_text("mine")
    code, _, err = run_cli(["export", "--model", str(model_file), "--out", str(a_file)], capsys)
    assert code == 2 and str(a_file) in err and "not a folder" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert a_file.read_text() == "mine"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    code, _, err = run_cli(
        ["export", "--model", str(model_file), "--out", str(folder), "--overwrite"], capsys
    )
    assert code == 2 and "holds no SavedModel" in err
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]


def test_a_truncated_model_file_is_named_corrupt_or_truncated(model_file, tmp_path, capsys):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(model_file.read_bytes()[:1000])
    code, _, err = run_cli(["export", "--model", str(cut), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and str(cut) in err and "corrupt or truncated" in err
    assert not (tmp_path / "o").exists()


def test_predict_with_a_saved_model_exported_before_views_says_how_to_export_it_again(
    model_file, tmp_path, capsys
):
    out = tmp_path / "serving" / "1"
    assert run_cli(["export", "--model", str(model_file), "--out", str(out)], capsys)[0] == 0
    (out / "assets.extra" / "view.json").unlink()  # as exported before SavedModels had a view
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"never read: the model is refused first")
    code, _, err = run_cli(["predict", str(video), "--model", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"smil predict: error: bad model file {out}: no assets.extra/view.json")
    assert f"smil export --model DETECTOR.keras --out {out} --overwrite" in err
