"""Peak memory and wall time of each chapter, executed alone in a fresh kernel, as a reader runs it.

Binder gives a reader 1-2 GB, so the book's bar is 1.5 GB a chapter. This executes every
chapter of ``_toc.yml`` (or those named) with nbclient, as myst-nb does, and reads the kernel's
own peak resident memory (``ru_maxrss``) from a probe cell run after the last one.

    python benchmarks/chapter_memory.py [--json benchmarks/results/chapter-memory-cpu.json] [CHAPTER ...]

``tests/test_chapter_memory.py`` (slow tier) runs the same measurement and fails above the limit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 1536


def toc_chapters() -> list[str]:
    """The executable chapters of the table of contents (MyST notebooks under chapters/)."""
    files = re.findall(r"file:\s*chapters/(\S+)", (ROOT / "_toc.yml").read_text())
    return [f for f in files if "kernelspec" in (ROOT / "chapters" / f"{f}.md").read_text()[:2000]]


def measure(chapter: str, timeout: int = 900) -> dict:
    """Execute ``chapters/CHAPTER.md`` in a fresh kernel: ``{"chapter", "ok", "wall_s", "peak_mb", "error"}``."""
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(ROOT / "chapters" / f"{chapter}.md")
    nb.cells.append(nbformat.v4.new_code_cell(
        "import resource as _r; print('PEAK', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss // 1024)"))
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "chapters")}})
    t0, error = time.perf_counter(), None
    try:
        client.execute()
    except Exception as e:   # the chapter's own error, reported, not raised: the others still run
        lines = str(e).strip().splitlines() or ["(no message)"]   # a kernel that died or timed out may say nothing
        error = f"{type(e).__name__}: {lines[-1][:300]}"
    wall = time.perf_counter() - t0
    outputs = nb.cells[-1].get("outputs", [])
    peak = next((int(o["text"].split()[1]) for o in outputs if o.get("text", "").startswith("PEAK")), None)
    return {"chapter": chapter, "ok": error is None, "wall_s": round(wall, 1), "peak_mb": peak, "error": error}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("chapters", nargs="*", help="chapter names (default: every chapter in _toc.yml)")
    p.add_argument("--json", type=Path, help="write the measurements here")
    args = p.parse_args(argv)
    rows = [measure(c) for c in (args.chapters or toc_chapters())]
    for r in rows:
        flag = "" if r["ok"] and r["peak_mb"] is not None and r["peak_mb"] <= LIMIT_MB else "  <-- over the limit or failed"
        print(f"{r['chapter']:28s} {r['wall_s']:7.1f} s  {r['peak_mb']} MB{flag}" + (f"  {r['error']}" if r["error"] else ""))
    if args.json:
        sys.path.insert(0, str(ROOT))
        from icl_book.provenance import cpu_name, git_commit
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "limit_mb": LIMIT_MB, "chapters": rows, "device": cpu_name(), "python": platform.python_version(),
            "git_commit": git_commit(), "date": dt.date.today().isoformat()}, indent=1) + "\n")
    return 0 if all(r["ok"] and r["peak_mb"] is not None and r["peak_mb"] <= LIMIT_MB for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
