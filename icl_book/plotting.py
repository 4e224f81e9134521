"""The book's one plotting style: colours and display names for every predictor, one rc set."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# The book's colours, by name: the chapters draw with these, never with colours of their own.
COLOURS = {"blue": "#1f4e9c", "orange": "#d95f02", "green": "#1b9e77", "grey": "#999999", "purple": "#7b3294",
           "amber": "#e08214", "violet": "#7570b3", "pink": "#e7298a", "mustard": "#e6ab02", "olive": "#66a61e",
           "red": "#d73027", "pale blue": "#9ecae1", "teal": "#41b6c4", "sea blue": "#2c7fb8", "black": "#000000"}

PREDICTORS = {
    # key: (display name, colour, line style)
    "transformer": ("Transformer", COLOURS["blue"], "-"),
    "lstm": ("LSTM", COLOURS["purple"], "-"),
    "bayes": ("Bayes-optimal", COLOURS["black"], "--"),
    "least_squares": ("Least squares", COLOURS["orange"], ":"),
    "nearest_neighbours": ("3-nearest neighbours", COLOURS["green"], "-."),
    "averaging": ("Averaging", COLOURS["pink"], "-."),
    "prior_mean": ("Prior mean (no context)", COLOURS["grey"], "--"),
}


def use_book_style() -> None:
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8), "figure.dpi": 110, "savefig.dpi": 110,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
        "font.size": 10, "legend.frameon": False, "lines.linewidth": 1.8,
    })


def image(ax: plt.Axes, data, **kwargs):
    """``ax.imshow(data, **kwargs)`` for a heat map: no grid lines over the cells (the book's style
    grids every other axes), and integer ticks, since a heat map's rows and columns are indices."""
    from matplotlib.ticker import MaxNLocator

    shown = ax.imshow(data, **kwargs)
    ax.grid(False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return shown


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


# The synthesis chapter's verdicts, from a theory that explains what our models do to one it contradicts:
# blue against orange (Okabe and Ito's palette, light enough for black labels), which readers with any
# common colour-vision deficiency tell apart, where green against red is lost to about one man in twelve.
VERDICT_COLOURS = {"explained": "#56b4e9", "partly explained": "#c6e4f5", "contradicted": "#e69f00",
                   "silent": "#f0f0f0", "not reached": "#e3c6da", "not run": "#bdbdbd"}


def verdict_grid(ax: plt.Axes, verdicts: list[list[str]], rows: list[str], columns: list[str],
                 labels: list[list[str]] | None = None) -> None:
    """A table of verdicts as coloured cells (``verdicts[row][column]``), each with an optional short label."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    keys = list(VERDICT_COLOURS)
    index = [[keys.index(v) for v in row] for row in verdicts]
    ax.imshow(index, cmap=ListedColormap(list(VERDICT_COLOURS.values())), vmin=-0.5, vmax=len(keys) - 0.5,
              aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=15, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks([x - 0.5 for x in range(1, len(columns))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(rows))], minor=True)
    ax.grid(False)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    for r, row in enumerate(labels or []):
        for c, text in enumerate(row):
            ax.text(c, r, text, ha="center", va="center", fontsize=7)
    ax.legend(handles=[Patch(color=VERDICT_COLOURS[k], label=k) for k in keys], loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=len(keys), fontsize=8)
