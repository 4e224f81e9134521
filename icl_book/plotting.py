"""The book's one plotting style: colours and display names for every predictor, one rc set."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

PREDICTORS = {
    # key: (display name, colour, line style)
    "transformer": ("Transformer", "#1f4e9c", "-"),
    "lstm": ("LSTM", "#7b3294", "-"),
    "bayes": ("Bayes-optimal", "#000000", "--"),
    "least_squares": ("Least squares", "#d95f02", ":"),
    "nearest_neighbours": ("3-nearest neighbours", "#1b9e77", "-."),
    "averaging": ("Averaging", "#e7298a", "-."),
    "prior_mean": ("Prior mean (no context)", "#999999", "--"),
}


def use_book_style() -> None:
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8), "figure.dpi": 110, "savefig.dpi": 110,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
        "font.size": 10, "legend.frameon": False, "lines.linewidth": 1.8,
    })


def style(key: str) -> dict:
    name, colour, ls = PREDICTORS.get(key, (key, None, "-"))
    return {"label": name, "color": colour, "linestyle": ls}


def plot_curves(ax: plt.Axes, n: list[int], curves: dict, keys: list[str], band: bool = True) -> None:
    """Mean curves with their 95 % bootstrap bands, in the book's style."""
    for key in keys:
        c = curves[key]
        line, = ax.plot(n, c["mean"], **style(key))
        if band:
            ax.fill_between(n, c["lo"], c["hi"], color=line.get_color(), alpha=0.15, linewidth=0)
