"""The Colab notebooks (chapters/*.ipynb) are the MyST chapters, cell for cell, without outputs."""

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Executable chapters (MyST notebooks); plain pages such as the references have no kernel.
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if "kernelspec:" in p.read_text())


def cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_ipynb_is_in_sync_with_its_myst_source(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    committed = nbformat.read(ipynb, as_version=4)
    assert cells(committed) == cells(jupytext.read(md)), f"{ipynb.name} is stale: run `make notebooks`"
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit no outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_installs_the_package_for_colab(md):
    first = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert "pip" in first.source and "icl-book @ git+https://github.com/" in first.source
    assert "find_spec(\"icl_book\")" in first.source  # only when missing: a local kernel is left alone
