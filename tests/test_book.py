"""The whole book builds from clean with warnings as errors, and says what it should."""

import re
from pathlib import Path

import pytest

from icl_book import claims

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def page_text(path):
    """The page's text without tags (Sphinx wraps each word of inline code in its own span)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", path.read_text()))


def toc_files():
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())


def test_every_chapter_in_the_toc_has_a_page(built_book):
    assert (built_book / "index.html").exists()
    for f in toc_files():
        assert (built_book / f"{f}.html").exists(), f


def test_no_cell_failed_and_no_glue_is_missing(built_book):
    for page in built_book.rglob("chapters/*.html"):
        html = page.read_text()
        assert "Traceback" not in html and not re.findall(r'class="output (?:traceback|error)', html), page
        assert "glue:text" not in html and "{glue" not in html, page


def test_the_scorecard_page_lists_every_claim_with_its_verdict(built_book):
    text = page_text(built_book / "chapters" / "appendix_reproducing.html")
    html = (built_book / "chapters" / "appendix_reproducing.html").read_text()
    card = claims.scorecard()
    for base, by_profile in claims.paired(card).items():   # one row per claim, both scales in it
        assert base in text, base
        assert all(c.verdict in text for c in by_profile.values())
    assert "| claim | verdict |" not in text, "the scorecard table was not rendered as a table"
    chapters = dict.fromkeys(c.chapter for c in card)
    assert html.count('class="dropdown admonition"') == len(chapters), "each chapter's claims fold"
    assert "{admonition}" not in text
    assert "linreg-cpu" in text and "icl-book train linreg --profile cpu" in text


def test_chapter_0_shows_its_figures_and_numbers(built_book):
    html = (built_book / "chapters" / "ch0_icl_in_one_minute.html").read_text()
    assert html.count("<img") >= 3                   # error curves, attention map, small multiples
    assert "fig-ch0-curves" in html and "fig-ch0-attention" in html
    assert "Where we differ from the paper" in html
    assert "garg2022what" in html or "Garg" in html


def test_launch_buttons_point_at_the_colab_notebook(built_book):
    html = (built_book / "chapters" / "ch0_icl_in_one_minute.html").read_text()
    assert "colab.research.google.com/github/icl-book/icl-book/blob/main/chapters/ch0_icl_in_one_minute.ipynb" in html
    assert "mybinder.org" in html


def test_the_ginc_chapter_shows_the_exact_predictor_beside_the_models(built_book):
    html = (built_book / "chapters" / "ch_ginc.html").read_text()
    for name in ("fig-ginc-bayes", "fig-ginc-models", "fig-ginc-explore"):
        assert name in html, name
    text = page_text(built_book / "chapters" / "ch_ginc.html")
    assert "What does not reproduce" in text and "exact Bayes" in text
