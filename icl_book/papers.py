"""The papers' published numbers that the book compares against, each with its citation.

Keys in ``references.bib`` name the papers. Numbers are transcribed from the papers (figure or
table named in ``where``); nothing here is computed.
"""

from __future__ import annotations

from dataclasses import dataclass


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
