"""PNG plots of the paper's figures.

Figures are drawn on a bare `matplotlib.figure.Figure` (no pyplot): that needs no display and
leaves the caller's backend alone, so plots in a Jupyter notebook keep working.
"""

import pathlib

from matplotlib.figure import Figure


def plot_curves(rows, x, y, path, title, xlabel, ylabel):
    """Plots `y` against `x` with one line per `row["model"]` and writes a PNG.

    Used for accuracy against the fraction of fake faces (Fig. 6, rows of
    `fake_fraction_table`) and against the number of test frames (Fig. 7, rows of
    `frames_table`).

    Example:

    >>> plot_curves(frames_table(models, "bags/test"), "frames", "accuracy", "fig7.png",
    ...             "Accuracy vs test frames", "frames", "accuracy")  # doctest: +SKIP
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(5, 3.5), dpi=120)
    axis = figure.add_subplot()
    for model in dict.fromkeys(row["model"] for row in rows):
        points = sorted((row[x], row[y]) for row in rows if row["model"] == model)
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=model)
    axis.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0.0, 1.02))
    axis.grid(alpha=0.3)
    if rows:
        axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path
