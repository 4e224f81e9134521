"""The package's data flows one way: tasks -> models -> training -> artifacts -> analysis -> claims.

Every import statement counts, including those inside functions: a lazy import is still a
dependency. The nodes are the package's top-level modules and subpackages."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "icl_book"


def _node(module: str) -> str:
    """``icl_book.bayes.hmm`` -> ``bayes``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module(path: Path) -> str:
    """``icl_book/bayes/__init__.py`` -> ``icl_book.bayes``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified icl_book modules that a source file imports (relative imports resolved)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("icl_book")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                # `from . import ch0` imports the submodule ch0
                out |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
            elif node.module and node.module.startswith("icl_book"):
                out.add(node.module)
    return out


def dependency_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        src = _node(_module(path))
        deps = {_node(m) for m in _imports(path) if m.count(".") >= 1} - {src}
        graph.setdefault(src, set()).update(deps)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_cycle_between_subpackages():
    cycle = _cycle(dependency_graph())
    assert cycle is None, "import cycle between subpackages: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_generators_never_import_references_and_the_lower_layers_stay_low():
    graph = dependency_graph()
    assert "bayes" not in graph["tasks"], "tasks imports bayes: " + str(graph["tasks"])
    for leaf in ("hmm", "papers"):
        assert graph.get(leaf, set()) <= set(), f"{leaf} must be a leaf, imports {graph[leaf]}"
    for low in ("tasks", "models", "bayes", "analysis"):
        assert not graph[low] & {"experiments", "claims", "cli"}, f"{low} imports a higher layer: {graph[low]}"


def test_relative_imports_are_resolved():
    """``from ..tasks.ginc import X`` in icl_book/bayes/hmm.py names icl_book.tasks.ginc."""
    assert "icl_book.tasks.ginc" in _imports(PACKAGE / "bayes" / "hmm.py")
    assert {"icl_book.claims.ch0", "icl_book.papers"} <= _imports(PACKAGE / "claims" / "__init__.py")


def _modules_defined(path: Path) -> list[str]:
    """Classes in ``path`` that subclass ``nn.Module`` (written ``nn.Module`` or ``torch.nn.Module``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if any(b in ("nn.Module", "torch.nn.Module", "Module") for b in bases):
                out.append(node.name)
    return out


def test_every_nn_module_lives_in_models():
    """models/ holds every nn.Module, so a reader looking for a network finds it there."""
    stray = {str(p.relative_to(PACKAGE)): names for p in PACKAGE.rglob("*.py")
             if p.relative_to(PACKAGE).parts[0] != "models" and (names := _modules_defined(p))}
    assert not stray, f"nn.Module subclasses outside icl_book/models/: {stray}"


def test_the_module_rule_finds_a_planted_network(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import torch\nclass Probe(torch.nn.Module):\n    pass\nclass Plain:\n    pass\n")
    assert _modules_defined(planted) == ["Probe"]
