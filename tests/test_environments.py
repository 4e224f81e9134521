"""pyproject.toml, environment.yml and binder/ ask for the same packages at the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def normalise(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pip_list(path: Path) -> set[tuple[str, str]]:
    """The requirement lines under ``- pip:`` in a conda environment file (no YAML parser needed)."""
    reqs, inside = set(), False
    for line in path.read_text().splitlines():
        if re.match(r"^\s*- pip:\s*$", line):
            inside = True
            continue
        m = re.match(r"^\s+- (.+)$", line)
        if inside and m:
            item = m.group(1).strip()
            if not item.startswith("-"):  # options such as --extra-index-url, -e .
                reqs.add(normalise(item))
    return reqs


def pyproject() -> set[tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["book"]}


def test_environment_yml_matches_pyproject():
    assert pip_list(ROOT / "environment.yml") == pyproject()


def test_binder_matches_pyproject():
    assert pip_list(ROOT / "binder" / "environment.yml") == pyproject()


def test_binder_installs_the_package_and_cpu_torch():
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    assert "download.pytorch.org/whl/cpu" in (ROOT / "binder" / "environment.yml").read_text()


def test_jupyter_book_is_pinned_to_version_1():
    assert ("jupyter-book", ">=1.0.4.post1,<2") in pyproject()


def test_torch_requirement_is_a_lower_bound_that_ci_torch_satisfies():
    torch_spec = dict(pyproject())["torch"]
    assert torch_spec.startswith(">=") and "<" not in torch_spec
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"TORCH\s*\?=\s*torch==([\d.]+)", makefile).group(1)
    floor = torch_spec[2:]
    assert tuple(map(int, pinned.split("."))) >= tuple(map(int, floor.split(".")))


def test_binder_pins_every_package_the_book_needs_inside_its_range():
    """binder/constraints.txt (tools/binder_constraints.py) fixes a version for each requirement of
    the book, and each pinned version satisfies the range pyproject asks for."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    assert "-c constraints.txt" in (ROOT / "binder" / "environment.yml").read_text()
    pins = dict(line.split("==") for line in (ROOT / "binder" / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert len(pins) > 50                                  # the whole closure, not the top level only
    for name, spec in pyproject():
        req = Requirement(name + spec)
        assert name in pins, f"binder/constraints.txt pins no {name}: run tools/binder_constraints.py"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), (name, spec, pins[name])
