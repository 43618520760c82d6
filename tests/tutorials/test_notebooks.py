"""Executes every tutorial notebook top to bottom in small mode (``SMIL_TUTORIAL_SMALL=1``).

Each notebook runs with nbclient on the ``python3`` kernel, with a fresh temporary folder as
working directory and as ``TMPDIR`` (the notebooks write only under `tempfile`'s folder), so
nothing lands in the repository or in ``../shared``. A failing cell fails the test with that
cell's source and error. About two minutes for all six on two idle cores.
"""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIALS = REPO_ROOT / "tutorials"
# Same default as tests/conftest.py; the notebooks use the real videos there when present.
FIXTURES = pathlib.Path(os.environ.get("SMIL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_tutorials_are_committed_without_outputs():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        stale = [i for i, cell in enumerate(notebook.cells)
                 if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
        assert not stale, f"{path.name}: cells {stale} carry outputs; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_in_small_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SMIL_TUTORIAL_SMALL", "1")
    # The notebooks find the shared fixtures through the same variable as tests/conftest.py.
    monkeypatch.setenv("SMIL_FIXTURES", str(FIXTURES))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    # A plot that silently vanishes (e.g. library code switching matplotlib to a non-GUI
    # backend inside the kernel) leaves the reader with nothing to look at.
    # Cells that only define a plotting helper (``def ...``) are left out.
    blank = [f"cell {index}: {cell.source.splitlines()[0]}" for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and "plt.show()" in cell.source and "def " not in cell.source
             and not any("image/png" in output.get("data", {}) for output in cell.outputs)]
    assert not blank, f"{path.name}: cells drew no figure: {blank}"
