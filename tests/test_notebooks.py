"""The Colab notebooks (chapters/*.ipynb) are the MyST chapters, cell for cell, without outputs;
prose that glues a value is a cell that shows it with the value filled in (Colab has no myst-nb)."""

import importlib.util
from pathlib import Path

import jupytext
import nbformat
import pytest

from icl_book.book import GLUE_FIGURE, GLUE_ROLE

ROOT = Path(__file__).resolve().parents[1]
# Executable chapters (MyST notebooks); plain pages such as the references have no kernel.
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if "kernelspec:" in p.read_text())

_spec = importlib.util.spec_from_file_location("colab_notebooks", ROOT / "tools" / "colab_notebooks.py")
colab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab)


def cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_ipynb_is_in_sync_with_its_myst_source(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    committed = nbformat.read(ipynb, as_version=4)
    assert cells(committed) == cells(colab.notebook(md)), f"{ipynb.name} is stale: run `make notebooks`"
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit no outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_no_markdown_cell_of_a_colab_notebook_shows_a_raw_glue_role(md):
    committed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    raw = [c.source[:80] for c in committed.cells
           if c.cell_type == "markdown" and (GLUE_ROLE.search(c.source) or GLUE_FIGURE.search(c.source))]
    assert not raw, f"{md.stem}: Colab would show these roles unfilled: {raw}"
    glued = sum(len(GLUE_ROLE.findall(c.source)) for c in jupytext.read(md).cells if c.cell_type == "markdown")
    shown = sum(len(GLUE_ROLE.findall(c.source)) for c in committed.cells if "prose(" in c.source)
    assert shown == glued


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_colab_shows_no_raw_myst(md):
    """Colab renders Markdown and MathJax only: no role, directive fence, colon fence or label line
    may reach a Markdown cell, nor a paragraph a prose cell shows (its glue roles and glued figures
    are prose's to fill in)."""
    committed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    raw = []
    for c in committed.cells:
        if c.cell_type == "markdown" or "prose(" in c.source:
            text = GLUE_ROLE.sub("", GLUE_FIGURE.sub("", c.source))
            raw += [m.group(0) for m in colab.RAW_MYST.finditer(text)]
    assert not raw, f"{md.stem}: raw MyST on Colab: {raw[:10]}"


def test_references_are_numbered_as_the_rendered_book_numbers_them():
    """Sphinx numbers through the whole book in table-of-contents order; the notebooks agree."""
    sg = ROOT / "chapters" / "ch_spin_glass.md"
    ch0 = ROOT / "chapters" / "ch0_icl_in_one_minute.md"
    pages_before = colab.book_order()[: [p.stem for p in colab.book_order()].index(sg.stem)]
    figures_before = sum(v.startswith("Fig.") for p in pages_before for v in colab._counted(p.read_text(), {}).values())
    page = colab.Page.of(sg.read_text(), sg)
    first = colab._FIG_NAME.search(sg.read_text())[3]
    assert page.numbers[first] == f"Fig. {figures_before + 1}" and figures_before > 0
    assert colab.Page.of(ch0.read_text(), ch0).numbers["fig-ch0-curves"] == "Fig. 1"   # the book's first
    assert "fig-ch0-curves" in page.numbers                     # a label on an earlier page keeps its number


@pytest.mark.slow
def test_the_notebooks_number_every_figure_and_equation_as_the_html_does(built_book):
    import re

    checked = 0
    for md in CHAPTERS:
        html = (built_book / "chapters" / f"{md.stem}.html").read_text()
        rendered = dict(re.findall(r'<figure[^>]*id="([^"]+)">.*?<span class="caption-number">(Fig\. \d+) ', html, re.S))
        rendered |= {k: f"({v})" for v, k in re.findall(r'<span class="eqno">\((\d+)\)<a class="headerlink" '
                                                        r'href="#equation-([^"]+)"', html)}
        numbers = colab.Page.of(md.read_text(), md).numbers
        for label, shown in rendered.items():
            if label in numbers:
                assert numbers[label] == shown, (md.stem, label, numbers[label], shown)
                checked += 1
    assert checked > 50


def test_every_myst_construct_becomes_plain_markdown():
    page = colab.Page.of(SAMPLE)            # not a page of the book: numbered on its own
    text = colab.plain(SAMPLE, page)
    assert not colab.RAW_MYST.search(GLUE_ROLE.sub("", GLUE_FIGURE.sub("", text))), text
    for shown in ["As Fig. 2 shows", "and Table 1 lists", "equation (1)", r"\tag{1} $$",
                  "([Xie et al., 2022](https://arxiv.org/abs/2111.02080))", "[Garg et al. (2022)]",
                  "[Reproducing this book](appendix_reproducing.ipynb)", "see Model choice",
                  "> **Beware**\n>\n> Text inside.", "**Exercise 1.**", "**Table 1.** Numbers.",
                  "<details><summary><b>Solution to Exercise 1</b></summary>", "the answer\n\n</details>",
                  ":number: Fig. 1", ":number: Fig. 2"]:
        assert shown in text, (shown, text)
    assert "(sec-x)=" not in text and "{exercise-end}" not in text


SAMPLE = """(sec-x)=
## Model choice

```{glue:figure} fig-a
:name: fig-a

First.
```

```{glue:figure} fig-b
:name: fig-b

Second, {glue:text}`value:.2f`.
```

$$
y = x
$$ (eq-y)

As {numref}`fig-b` shows, and {numref}`tab-n` lists, equation {eq}`eq-y` holds {cite}`xie2022explanation`;
{cite:t}`garg2022what` said so; {doc}`appendix_reproducing` has more; see {ref}`sec-x`.

:::{admonition} Beware
:class: warning
Text inside.
:::

```{table} Numbers.
:name: tab-n

| a | b |
|---|---|
| 1 | 2 |
```

```{exercise-start}
:label: ex-a
```
Do it.
```{exercise-end}
```

```{solution-start} ex-a
:class: dropdown
```
the answer
```{solution-end}
```
"""


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_installs_the_package_for_colab(md):
    first = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert "pip" in first.source and "icl-book @ git+https://github.com/" in first.source
    assert "find_spec(\"icl_book\")" in first.source  # only when missing: a local kernel is left alone


def test_a_generated_notebook_shows_the_glued_values_where_the_prose_uses_them(tmp_path):
    """Executed as Colab would (a kernel, no book build), the paragraph reads with its numbers."""
    from nbclient import NotebookClient

    md = tmp_path / "tiny.md"
    md.write_text('---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n'
                  'kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n'
                  '# Tiny\n\nThe answer, {glue:text}`tiny-later`, is glued below this paragraph.\n\n'
                  '```{code-cell} ipython3\nfrom icl_book.book import glue\n'
                  'glue("tiny-pi", 3.14159, display=False)\nglue("tiny-n", 12345, display=False)\n'
                  'glue("tiny-who", "two cores", display=False)\n```\n\n'
                  'Pi is {glue:text}`tiny-pi:.2f`, $n =$ {glue:text}`tiny-n:,` on {glue:text}`tiny-who`.\n\n'
                  '+++\n\nA cell with no value stays Markdown.\n\n'
                  '```{code-cell} ipython3\nglue("tiny-later", 42, display=False)\n```\n')
    nb = colab.notebook(md)
    assert [c.cell_type for c in nb.cells] == ["code", "code", "code", "markdown", "code"]
    assert nb.cells[2].metadata["cellView"] == "form"
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    shown = [c.outputs[0]["data"]["text/markdown"] for c in nb.cells if "prose(" in c.source]
    assert shown == ["# Tiny\n\nThe answer, 42, is glued below this paragraph.",
                     "Pi is 3.14, $n =$ 12,345 on two cores."]


def test_a_glued_figure_shows_once_with_its_caption_in_the_book_and_on_colab(tmp_path):
    """The cell that glues a figure shows nothing (pyplot would draw it a second time there); the
    Colab notebook shows it where the {glue:figure} directive stands, with the caption filled in."""
    from nbclient import NotebookClient

    md = tmp_path / "fig.md"
    md.write_text('---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n'
                  'kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n'
                  '# Figure\n\n```{code-cell} ipython3\n%matplotlib inline\nimport matplotlib.pyplot as plt\n'
                  'from icl_book.book import glue\nfig, ax = plt.subplots()\nax.plot([0, 1])\n'
                  'glue("fig-line", fig, display=False)\nglue("slope", 1.0, display=False)\n```\n\n'
                  '```{glue:figure} fig-line\n:name: fig-line\n\nA line of slope {glue:text}`slope:.1f`.\n```\n\n'
                  'As {numref}`fig-line` shows.\n')
    nb = colab.notebook(md)
    assert not any(c.cell_type == "markdown" and "{glue:figure}" in c.source for c in nb.cells)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    maker = next(c for c in nb.cells if 'glue("fig-line"' in c.source)
    assert not any("image/png" in o.get("data", {}) for o in maker.outputs), "the figure was drawn twice"
    shown = next(c for c in nb.cells if "prose(" in c.source).outputs
    kinds = [next(k for k in ("image/png", "text/markdown") if k in o["data"]) for o in shown]
    assert kinds == ["image/png", "text/markdown"]
    assert shown[1]["data"]["text/markdown"].startswith("*Fig. 1.* A line of slope 1.0.")
