"""Small helpers the chapters share."""

from __future__ import annotations

import re

GLUED: dict[str, object] = {}  # every value glued in this kernel, for ``prose`` (the Colab notebooks)
GLUE_ROLE = re.compile(r"\{glue(?::text|:md)?:?\}`([^`:]+)(?::([^`]*))?`")
GLUE_FIGURE = re.compile(r"^```\{glue:figure\}[ \t]+(\S+)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)

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
        shown = _glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        shown = show(value)
    else:
        shown = None
    if not display and _is_figure(value):
        # pyplot would draw the open figure again under the cell that made it; the {glue:figure}
        # directive is where the reader sees it (and its caption)
        import matplotlib.pyplot as plt

        plt.close(value)
    return shown


def _is_figure(value) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the book
        return False
    return isinstance(value, Figure)


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
    glued values, and each ``{glue:figure}`` directive as its figure and caption. A Colab notebook
    has no myst-nb to paste them into its Markdown cells, so ``tools/colab_notebooks.py`` turns
    each such cell into a cell calling this. A value glued further down fills its paragraph in
    when its cell runs."""
    from IPython.display import Markdown, display

    parts = GLUE_FIGURE.split(markdown)            # text, name, body, text, name, body, ..., text
    for i in range(0, len(parts), 3):
        text = parts[i].strip()
        if i > 0:                                  # the figure before this text, then its caption
            name, body = parts[i - 2], parts[i - 1]
            display(GLUED[name] if name in GLUED else Markdown(f"⟨figure {name}: computed further down⟩"))
            caption = "\n".join(line for line in body.splitlines() if not line.startswith(":")).strip()
            numbered = re.search(r"^:number:[ \t]*(.+)$", body, re.M)   # the book's number, from the notebook tool
            text = f"*{numbered[1].strip() if numbered else 'Figure'}.* {caption}\n\n{text}".strip()
        if not text:
            continue
        handle = display(Markdown(_filled(text)), display_id=True)
        if any(m.group(1) not in GLUED for m in GLUE_ROLE.finditer(text)):
            _PENDING.append((handle, text))


def _compact(value) -> str:
    """A setting as a reader wants it: short lists whole, long ones by their ends and length."""
    if isinstance(value, (list, tuple)):
        items = [_compact(v) for v in value]
        return ", ".join(items) if len(items) <= 6 else f"{', '.join(items[:3])}, …, {items[-1]} ({len(items)} values)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_table(settings: dict, groups: dict[str, str]):
    """A stored configuration as a short Markdown table instead of its raw dictionary: one row per
    group of settings (keys that start with a prefix in ``groups``, whose value names the row),
    and one row for the rest."""
    from IPython.display import Markdown

    rows, rest = {title: [] for title in groups.values()}, []
    for key, value in settings.items():
        prefix = next((p for p in sorted(groups, key=len, reverse=True) if key.startswith(p + "_")), None)
        name = key[len(prefix) + 1:] if prefix else key
        (rows[groups[prefix]] if prefix else rest).append(f"{name.replace('_', ' ')} = {_compact(value)}")
    lines = ["| experiment | settings |", "|---|---|"]
    lines += [f"| {title} | {'; '.join(items)} |" for title, items in rows.items() if items]
    if rest:
        lines.append(f"| every experiment | {'; '.join(rest)} |")
    return Markdown("\n".join(lines))

