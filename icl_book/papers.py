"""The papers' published numbers that the book compares against, each with its citation.

Keys in ``references.bib`` name the papers. Numbers are transcribed from the papers (figure or
table named in ``where``); nothing here is computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class PaperValue:
    value: float | None    # the number, where the paper gives one
    text: str              # how the paper states it
    cite: str              # bibtex key
    where: str             # figure, table or section

    def __str__(self) -> str:
        return f"{self.text} ({self.where})"


GARG_2022 = {
    # Figure 2 (left): the transformer's normalised squared error matches least squares, which
    # is zero once the prompt holds d = 20 examples; 3-NN and averaging stay far above it.
    "transformer_error_at_2d": PaperValue(0.0, "≈ 0 at 40 examples, d = 20", "garg2022what", "Fig. 2"),
    "transformer_vs_least_squares": PaperValue(0.0, "matches least squares at every prompt length",
                                               "garg2022what", "Fig. 2"),
    "knn_error_at_2d": PaperValue(None, "3-NN and averaging stay between about 0.6 and 1.0", "garg2022what",
                                  "Fig. 2"),
    "model": PaperValue(None, "12 layers, 8 heads, width 256; Adam 1e-4, batch 64, 500k steps, curriculum",
                        "garg2022what", "Sec. 3"),
}


XIE_2022 = {
    # The model-size comparison: validation loss at V = 50 of the models whose k = 10, n = 64
    # accuracies are in the curves below.
    "val_loss_v50": {"4L": PaperValue(1.50, "1.50", "xie2022explanation", "model-size comparison"),
                     "12L": PaperValue(1.33, "1.33", "xie2022explanation", "model-size comparison"),
                     "16L": PaperValue(1.33, "1.33", "xie2022explanation", "model-size comparison"),
                     "LSTM": PaperValue(1.35, "1.35", "xie2022explanation", "model-size comparison")},
    # Training budgets: transformers stop at step 6000 of 8 x 1024 tokens; the LSTM runs 10 epochs
    # over the 10.24M-token corpus.
    "train_tokens": {"transformer": PaperValue(6000 * 8 * 1024, "6,000 steps x 8 x 1024 tokens",
                                               "xie2022explanation", "experimental details"),
                     "LSTM": PaperValue(10 * 10_240_000, "10 epochs of 10.24M tokens", "xie2022explanation",
                                        "experimental details")},
}

# The GINC paper's in-context accuracy curves, every (model, V, k, n), as read from the saved
# outputs of the official repository's plotting notebook (Xie et al. 2022).
GINC_CURVES_FILE = Path(__file__).resolve().parent / "paperdata" / "ginc_curves.txt"
# Section headings in that file, by the short names the book uses.
GINC_SECTIONS = {
    "16-layer (large, ~115M)": "16L",
    "12-layer (medium, ~85M)": "12L",
    "4-layer (small, ~29M)": "4L",
    "4-layer small, OOD-concept prompts": "4L-unseen-concepts",
    "4-layer small, random-data ablation": "4L-random-tokens",
    "4-layer small, no-slot-prior ablation": "4L-single-concept",
    "4-layer small, vic=0.0 fast-changing-entity ablation": "4L-fast-entities",
    "LSTM 6x768": "LSTM",
}


@lru_cache(maxsize=None)
def ginc_curves() -> dict[tuple[str, int, int], dict[int, tuple[float, float]]]:
    """``{(model, V, k): {n: (accuracy %, 95 % CI half-width)}}`` from the paper's curves."""
    curves, section = {}, None
    for line in GINC_CURVES_FILE.read_text().splitlines():
        if line.startswith("### "):
            section = GINC_SECTIONS[line[4:].strip()]
        elif line.startswith("V="):
            v, k = map(int, re.match(r"V=(\d+) k=(\d+):", line).groups())
            points = re.findall(r"n=(\d+):([\d.]+)±([\d.]+)", line)
            curves[(section, v, k)] = {int(n): (float(m), float(ci)) for n, m, ci in points}
    return curves


# Li, Bai & Huang (PRE 2025), "Spin glass model of in-context learning": numbers from the result
# files committed in the paper's official repository (yu-hao-Li/spin-glass-model-of-in-context-learning).
LI_2025 = {
    # contrast ratio cos(m, I) at D = 20, lambda0 = 1, N = 100, by the number of tasks P
    "contrast_ratio_N100": {100: 0.33, 200: 0.52, 400: 0.68, 600: 0.77, 1000: 0.87},
    # zero-eigenvalue fraction of the Hessian at D = 20, N = 100, by P
    "zero_mode_fraction": {25: 0.943, 100: 0.773, 250: 0.433, 400: 0.093, 450: 0.048},
    # test loss of gradient training (Adam 0.01, 300 full-batch epochs) at D = 10, N = 100, by P
    "few_many_test_loss": {10: 2.10, 1000: 0.114},
    # message-passing marginals at D = 10, N = 100, P = 5000, lambda0 = 0.01, beta = 100 (ranges)
    "mp_diag_mean": (0.84, 0.87),
    "mp_diag_var": (0.078, 0.092),
}
