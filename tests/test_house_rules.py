"""The house rules a reader sees: every figure captioned and referable, one palette, no provenance in the
chapters' results (it belongs to the appendix's artifact table)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)\n```", re.S)
GLUE_FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)\n(.*?)\n```", re.S)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_a_caption_and_a_name(chapter):
    text = chapter.read_text()
    # an explorer (ipywidgets) redraws inside its callback; the HTML shows a captioned static view
    bare = [cell.splitlines()[-1] for cell in CELL.findall(text)
            if "plt.show()" in cell and "widgets." not in cell and not ("caption:" in cell and "name:" in cell)]
    assert not bare, f"{chapter.name}: figures shown without a caption and a name: {bare}"
    for name, body in GLUE_FIGURE.findall(text):
        caption = [line for line in body.splitlines() if line.strip() and not line.startswith(":")]
        assert caption, f"{chapter.name}: glue figure {name} has no caption"
        assert ":name:" in body, f"{chapter.name}: glue figure {name} has no :name: to reference it by"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if not c.stem.startswith(("appendix", "references"))],
                         ids=lambda p: p.stem)
def test_no_provenance_in_a_chapters_prose(chapter):
    prose = CELL.sub("", chapter.read_text())
    found = re.findall(r"[^.\n]*\b(?:threads?|other jobs?|loaded (?:core|machine))\b[^.\n]*", prose, re.I)
    assert not found, f"{chapter.name}: provenance belongs in the appendix: {found}"


HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\b")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_draw_with_the_books_palette(chapter):
    """One palette (icl_book.plotting.COLOURS and the predictors' styles): a colour typed into a
    chapter drifts from the others and from the legend a reader has learnt."""
    typed = HEX_COLOUR.findall(chapter.read_text())
    assert not typed, f"{chapter.name}: colours typed instead of taken from icl_book.plotting.COLOURS: {typed}"


def test_the_palette_rule_finds_a_typed_colour():
    assert HEX_COLOUR.findall('ax.plot(x, y, color="#1f4e9c")') == ["#1f4e9c"]
    assert not HEX_COLOUR.findall('ax.plot(x, y, color=COLOURS["blue"])')


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_heat_maps_go_through_the_books_image(chapter):
    """``icl_book.plotting.image`` draws a heat map without grid lines over its cells and with integer
    ticks; a bare ``imshow`` under the book's gridded style draws both wrong."""
    bare = re.findall(r"[^\n]*\.imshow\([^\n]*", "\n".join(CELL.findall(chapter.read_text())))
    assert not bare, f"{chapter.name}: use icl_book.plotting.image for heat maps: {bare}"
