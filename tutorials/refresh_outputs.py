"""Re-executes the tutorials in small mode and stores their outputs in the notebooks.

The notebooks are committed with the outputs of a small-mode run (``SMIL_TUTORIAL_SMALL=1``:
tiny backbone, few videos and epochs), so a reader on a code host sees the plots and numbers the
prose talks about. Run this after changing a notebook or the library code it shows:

    python3 tutorials/refresh_outputs.py                  # all notebooks
    python3 tutorials/refresh_outputs.py 04_training      # the ones whose name contains this

Each notebook runs top to bottom on the ``python3`` kernel in a fresh temporary folder (its
working directory and ``TMPDIR``), exactly as ``tests/tutorials/test_notebooks.py`` runs it; the
real face videos are read from ``$SMIL_FIXTURES`` (default ``../shared/fixtures``) when present.
The notebooks seed every random source, so a re-run stores the same numbers; cell timing
metadata is dropped so that such a re-run changes nothing.

What the stored outputs leave out, and why:

- progress bars (``TQDM_DISABLE=1``): they hold timings, which would change at every run;
  tqdm's warning that ``ipywidgets`` is missing (the ``notebooks`` extra installs it) is
  ignored for the same reason;
- what native libraries write straight to the process's stderr (TensorFlow's and CUDA's
  start-up lines, which no setting silences, OpenCV's and FFmpeg's warnings): the kernel runs
  with ``capture_fd_output=False``, so they go to this script's terminal, not into a cell.
  Jupyter shows them in the cell that imports TensorFlow.

After running, the outputs are checked (`output_problems`): a stored traceback or start-up
line fails the refresh, and the notebook is not written.
"""

import argparse
import os
import pathlib
import re
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

TUTORIALS = pathlib.Path(__file__).resolve().parent
FIXTURES = pathlib.Path(
    os.environ.get("SMIL_FIXTURES", TUTORIALS.parent.parent / "shared" / "fixtures")
)
CELL_TIMEOUT_S = 600
# Native output goes to the kernel's own stderr, not into the cells (see the docstring).
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]
# Lines that must never be stored: library start-up noise, progress bars and tracebacks.
NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d"  # absl / TensorFlow C++ log lines
    r"|All log messages before absl"
    r"|oneDNN custom operations|Could not find cuda drivers|cuInit|Unable to register cu"
    r"|TF-TRT Warning|cpu_feature_guard"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|^(INFO|WARNING):(tensorflow|absl):"  # TensorFlow's Python log (e.g. "Assets written to")
    r"|TqdmWarning|IProgress not found"
    r"|\| *\d+/\d+ \[\d\d:\d\d<"  # a progress bar (its timings change at every run)
    r"|Traceback \(most recent call last\)",
    re.IGNORECASE | re.MULTILINE,
)


def environment(work_dir):
    """The variables a notebook runs with: small mode, the fixtures, its own temporary folder,
    no progress bars."""
    return {
        "SMIL_TUTORIAL_SMALL": "1",
        "SMIL_FIXTURES": str(FIXTURES),
        "TMPDIR": str(work_dir),
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "ignore:IProgress not found:Warning",
    }


def execute(path, work_dir, timeout=CELL_TIMEOUT_S):
    """Runs one notebook in small mode in ``work_dir`` and returns it with its outputs.

    Raises `nbclient.exceptions.CellExecutionError` for a failing cell."""
    notebook = nbformat.read(path, as_version=4)
    variables = environment(work_dir)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)  # the kernel inherits this process's environment
    try:
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=timeout,
            extra_arguments=KERNEL_ARGUMENTS,
            resources={"metadata": {"path": str(work_dir)}},
        ).execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("execution", None)
    return notebook


def output_text(output):
    """The text a reader sees in one stored output (streams, plain-text results, errors)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(
            [f"{output.get('ename')}: {output.get('evalue')}", *output.get("traceback", [])]
        )
    return output.get("data", {}).get("text/plain", "")


def output_problems(notebook):
    """``["cell N: ..."]`` for each code cell without outputs or execution count, and each output
    that holds an error, a traceback, library start-up noise or a progress bar; empty when all
    is well."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if not cell.get("execution_count") or not cell.get("outputs"):
            problems.append(f"cell {index}: no stored output or execution count")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: stores an error ({output.get('ename')})")
            found = NOISE.search(output_text(output))
            if found:
                line = output_text(output)[found.start() :].splitlines()[0]
                problems.append(f"cell {index}: {line[:120]!r}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one")
    args = parser.parse_args(argv)
    paths = [
        path
        for path in sorted(TUTORIALS.glob("*.ipynb"))
        if not args.names or any(name in path.name for name in args.names)
    ]
    if not paths:
        print(f"no notebook in {TUTORIALS} matches {args.names}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        with tempfile.TemporaryDirectory() as work_dir:
            notebook = execute(path, pathlib.Path(work_dir))
        problems = output_problems(notebook)
        if problems:
            failed += 1
            print(f"  not stored, its outputs show: {'; '.join(problems)}", file=sys.stderr)
            continue
        nbformat.write(notebook, path)
        print(f"  stored its outputs in {path}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
