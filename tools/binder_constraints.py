"""Write binder/constraints.txt: the exact versions, in this environment, of every package the book
needs to run (pyproject's dependencies and its ``book`` extra, and everything they require), so a
Binder built next year resolves what this one did.

    python tools/binder_constraints.py        (from a working environment: make install)

binder/environment.yml reads the file with ``-c constraints.txt``: pip takes each version as an upper
and lower bound at once, and installs nothing the requirements do not ask for.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "binder" / "constraints.txt"


def closure(requirements: list[str]) -> dict[str, str]:
    """``{name: installed version}`` for ``requirements`` and, recursively, what they require here
    (markers evaluated for this interpreter, no extras)."""
    seen: dict[str, str] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        dist = metadata.distribution(req.name)
        seen[name] = dist.version
        todo += [Requirement(r) for r in dist.requires or []]
    return seen


def book_requirements(root: Path = ROOT) -> list[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["book"]


def main() -> int:
    pins = closure(book_requirements())
    # a CPU build's local label (2.13.0+cpu) is not part of the pin: the CPU index serves it as 2.13.0
    lines = [f"{name}=={version.split('+')[0]}" for name, version in sorted(pins.items())]
    OUT.write_text("# Made by tools/binder_constraints.py from a working environment; the versions Binder installs.\n"
                   + "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} pins to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
