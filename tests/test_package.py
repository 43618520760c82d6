"""The installed package: version, lazy top-level API, and the `smil` command's sub-commands."""

import pathlib
import re
import subprocess
import sys

import smil_keras
from smil_keras.cli.main import COMMANDS, build_parser

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_is_the_one_setup_py_packages():
    version_file = (REPO_ROOT / "smil_keras" / "version.py").read_text()
    assert re.search(r'__version__ = "([^"]+)"', version_file).group(1) == smil_keras.__version__


def test_every_top_level_name_resolves_to_its_subpackage_object():
    import importlib

    for module_name, names in smil_keras._PUBLIC.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert getattr(smil_keras, name) is getattr(module, name), name
    assert set(dir(smil_keras)) >= set(smil_keras._WHERE)


def test_unknown_top_level_name_raises_attribute_error():
    try:
        _ = smil_keras.no_such_name
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_smil_help_lists_every_sub_command():
    parser = build_parser()
    help_text = parser.format_help()
    for command in COMMANDS:
        assert command in help_text


def test_smil_without_command_prints_help_and_fails():
    result = subprocess.run(
        [sys.executable, "-m", "smil_keras.cli.main"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert "usage: smil" in result.stdout
