"""Small helpers the chapters share."""

from __future__ import annotations

import re

GLUED: dict[str, object] = {}  # every value glued in this kernel, for ``prose`` (the Colab notebooks)
GLUE_ROLE = re.compile(r"\{glue(?::text|:md)?:?\}`([^`:]+)(?::([^`]*))?`")

try:  # myst-nb's glue pastes computed values into the prose; it is absent on some Colab images
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised only outside the book build
    _glue = None


def glue(name: str, value, display: bool = True):
    """myst-nb's ``glue``, with numpy scalars turned into Python numbers first (so that format
    specs such as ``{glue:text}`key:.3f``` work), and a plain display outside the book build."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    GLUED[name] = value
    _fill_pending()
    if _glue is not None:
        return _glue(name, value, display=display)
    if display:
        from IPython.display import display as show

        show(value)


def _filled(markdown: str) -> str:
    def fill(m):
        key, spec = m.group(1), m.group(2) or ""
        return format(GLUED[key], spec) if key in GLUED else f"⟨{key}: computed further down⟩"

    return GLUE_ROLE.sub(fill, markdown)


_PENDING: list = []  # (display handle, markdown) of paragraphs shown before all their values were glued


def _fill_pending() -> None:
    from IPython.display import Markdown

    for item in list(_PENDING):
        handle, markdown = item
        if all(m.group(1) in GLUED for m in GLUE_ROLE.finditer(markdown)):
            handle.update(Markdown(_filled(markdown)))
            _PENDING.remove(item)


def prose(markdown: str):
    """Show a paragraph of the book with its ``{glue:text}`key:spec``` roles filled in from the
    glued values. A Colab notebook has no myst-nb to paste them into its Markdown cells, so
    ``tools/colab_notebooks.py`` turns each paragraph that glues a value into a cell calling this.
    A value glued further down fills its paragraph in when its cell runs."""
    from IPython.display import Markdown, display

    handle = display(Markdown(_filled(markdown)), display_id=True)
    if any(m.group(1) not in GLUED for m in GLUE_ROLE.finditer(markdown)):
        _PENDING.append((handle, markdown))
