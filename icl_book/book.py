"""Small helpers the chapters share."""

from __future__ import annotations

try:  # myst-nb's glue pastes computed values into the prose; it is absent on some Colab images
    from myst_nb import glue
except ImportError:  # pragma: no cover - exercised only outside the book build
    def glue(name, value, display=True):
        """Stand-in for myst_nb.glue outside the book build: show the value if asked."""
        if display:
            from IPython.display import display as show

            show(value)
