"""The tutorial notebooks: committed with clean outputs, and executable top to bottom.

The notebooks are committed with the outputs of a small-mode run (``tutorials/refresh_outputs.py``
stores them), so a reader on a code host sees what the prose talks about. The first test reads
those stored outputs; the second executes every notebook in small mode (``SMIL_TUTORIAL_SMALL=1``)
exactly as the refresh script does (`refresh_outputs.execute`: nbclient on the ``python3``
kernel, a fresh temporary folder as working directory and ``TMPDIR``, so nothing lands in the
repository or in ``../shared``). Notebooks 4 and 5 end with a cell asserting that S-MIL-T
separates their test videos clearly better than chance, and notebook 7 that its 2-worker Ray
extraction writes the shards of one process byte for byte and that training on 2 devices ends
with the losses and weights of 1 device, so the execution test checks these too. A few minutes
for all seven on two idle cores.
"""

import importlib.util
import pathlib
import tempfile

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIALS = REPO_ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("refresh_outputs", TUTORIALS / "refresh_outputs.py")
refresh_outputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refresh_outputs)


def test_tutorials_are_committed_with_clean_outputs():
    """Every code cell carries its execution count and outputs; no output holds an error, a
    traceback or TensorFlow / CUDA start-up lines (``refresh_outputs.py`` stores them)."""
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"
    for path in NOTEBOOKS:
        problems = refresh_outputs.output_problems(nbformat.read(path, as_version=4))
        assert not problems, (
            f"{path.name}: {problems}; run python3 tutorials/refresh_outputs.py {path.stem}"
        )


def test_output_check_finds_noise_tracebacks_and_missing_outputs():
    """The check above is only as good as `output_problems`: it must see each kind of problem
    (start-up lines, errors and tracebacks, a cell never run, progress bars) and nothing else."""
    stream = nbformat.v4.new_output(
        "stream",
        name="stderr",
        text="I0000 00:00:1796050707.228986   21576 cudart_stub.cc:31] Could not find cuda\n",
    )
    error = nbformat.v4.new_output(
        "error", ename="ValueError", evalue="bad", traceback=["Traceback (most recent call last)"]
    )
    bar = nbformat.v4.new_output(
        "stream", name="stderr", text="scoring bags:  33%|###   | 1/3 [00:00<00:01,  1.01batch/s]"
    )
    fine = nbformat.v4.new_output("stream", name="stdout", text="video AUC 0.917 | 1/3 done\n")
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import tensorflow", execution_count=1, outputs=[stream]),
            nbformat.v4.new_code_cell("1 / 0", execution_count=2, outputs=[error]),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_markdown_cell("text"),
            nbformat.v4.new_code_cell("print(auc)", execution_count=3, outputs=[fine]),
            nbformat.v4.new_code_cell("evaluate(model)", execution_count=4, outputs=[bar]),
        ]
    )
    problems = refresh_outputs.output_problems(notebook)
    assert [problem.split(":")[0] for problem in problems] == [
        "cell 0",
        "cell 1",
        "cell 1",
        "cell 2",
        "cell 5",
    ], problems


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_in_small_mode(path):
    # A short working folder, as the refresh script's: notebook 7's Ray puts its Unix sockets
    # under it, whose paths may not exceed 107 bytes (pytest's tmp_path is too long for them).
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            notebook = refresh_outputs.execute(path, pathlib.Path(work_dir))
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    # A plot that silently vanishes (e.g. library code switching matplotlib to a non-GUI
    # backend inside the kernel) leaves the reader with nothing to look at.
    # Cells that only define a plotting helper (``def ...``) are left out.
    blank = [
        f"cell {index}: {cell.source.splitlines()[0]}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and "plt.show()" in cell.source
        and "def " not in cell.source
        and not any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]
    assert not blank, f"{path.name}: cells drew no figure: {blank}"
    problems = refresh_outputs.output_problems(notebook)
    assert not problems, f"{path.name}: {problems}"
