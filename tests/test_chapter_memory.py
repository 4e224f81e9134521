"""Every chapter executes within the memory Binder gives a reader (1.5 GB peak, in a fresh kernel)."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("chapter_memory", ROOT / "benchmarks" / "chapter_memory.py")
chapter_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chapter_memory)


def test_the_chapters_are_found():
    chapters = chapter_memory.toc_chapters()
    assert "ch_ginc" in chapters and "appendix_reproducing" in chapters and "references" not in chapters


@pytest.mark.parametrize("chapter", chapter_memory.toc_chapters())
def test_a_chapter_fits_in_a_binder(chapter):
    row = chapter_memory.measure(chapter)
    assert row["ok"], row["error"]
    assert row["peak_mb"] is not None and row["peak_mb"] <= chapter_memory.LIMIT_MB, row
