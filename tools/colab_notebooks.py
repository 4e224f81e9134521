"""Write the Colab notebooks (chapters/*.ipynb, no outputs) from the MyST chapters.

    python tools/colab_notebooks.py chapters/*.md        (``make notebooks``)

Colab has no myst-nb, so a Markdown cell would show ``{glue:text}`key:.3f``` where the book
shows a number. Each Markdown cell that glues a value therefore becomes a code cell (its source
hidden in Colab's form view) that shows the same paragraph with the values filled in
(``icl_book.book.prose``), in the place the prose uses them; a ``{glue:figure}`` directive
becomes its figure and caption the same way. Every other cell is jupytext's
conversion unchanged. Cell ids are hashes of the cells, so an unchanged chapter writes the same file.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from icl_book.book import GLUE_FIGURE, GLUE_ROLE  # noqa: E402


def prose_cell(markdown: str) -> nbformat.NotebookNode:
    literal = f'r"""{markdown}"""' if '"""' not in markdown and not markdown.endswith("\\") else repr(markdown)
    source = f"#@title\nfrom icl_book.book import prose\nprose({literal})"
    return nbformat.v4.new_code_cell(source, metadata={"cellView": "form", "jupyter": {"source_hidden": True}})


def notebook(md: str | Path) -> nbformat.NotebookNode:
    """The Colab notebook of the MyST chapter ``md``."""
    nb = jupytext.read(md)
    nb.metadata.pop("jupytext", None)
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and (GLUE_ROLE.search(cell.source) or GLUE_FIGURE.search(cell.source)):
            cell = prose_cell(cell.source)
        cell.id = hashlib.sha1(f"{i}\n{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cells.append(cell)
    nb.cells = cells
    return nb


def main(paths: list[str]) -> int:
    for md in paths:
        if "kernelspec:" not in Path(md).read_text():
            continue  # a plain page (the references), not a notebook
        out = Path(md).with_suffix(".ipynb")
        nbformat.write(notebook(md), out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
