"""Small helpers the chapters share."""

from __future__ import annotations

try:  # myst-nb's glue pastes computed values into the prose; it is absent on some Colab images
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised only outside the book build
    _glue = None


def glue(name: str, value, display: bool = True):
    """myst-nb's ``glue``, with numpy scalars turned into Python numbers first (so that format
    specs such as ``{glue:text}`key:.3f``` work), and a plain display outside the book build."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if _glue is not None:
        return _glue(name, value, display=display)
    if display:
        from IPython.display import display as show

        show(value)
