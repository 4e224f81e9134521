import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cpu_threads():
    # Two cores in CI; fixed thread counts keep float reductions in the same order run to run.
    torch.set_num_threads(2)


@pytest.fixture
def tmp_store(tmp_path, monkeypatch):
    """An empty artifact store, so tests never touch the shipped one."""
    root = tmp_path / "store"
    monkeypatch.setenv("ICL_BOOK_ARTIFACTS", str(root))
    from icl_book.store import ArtifactStore

    return ArtifactStore(root)


@pytest.fixture
def regime(tmp_store):
    """``regime(*reached, short=())``: a regime table in ``tmp_store`` (``regime-cpu``) that calls the
    artifacts ``reached`` in their regime and ``short`` short of it, on the weights each has there (what
    ``icl-book train regime`` stores), so that claims over fake artifacts are judged by their own rules."""
    def mark(*reached: str, short: tuple = (), profile: str = "cpu"):
        table = {}
        for name, ok in [(n, True) for n in reached] + [(n, False) for n in short]:
            files = tmp_store.entry(name).get("files", {})
            table[name] = {"weights_sha256": files.get("weights.safetensors"), "reached": ok, "value": 0.0 if ok else 1.0,
                           "lo": 0.0, "hi": 0.0 if ok else 1.0, "threshold": 0.5, "units": "nats / token"}
        from icl_book.store import ArtifactMissing

        try:
            table = {**tmp_store.results(f"regime-{profile}")["evaluation"]["artifacts"], **table}
        except ArtifactMissing:
            pass
        tmp_store.save(f"regime-{profile}", results={"evaluation": {"artifacts": table}}, provenance={})
    return mark


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of the shipped artifact store that a test may corrupt."""
    from icl_book.store import PACKAGE_STORE, ArtifactStore

    root = tmp_path / "shipped"
    shutil.copytree(PACKAGE_STORE, root, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    monkeypatch.setenv("ICL_BOOK_ARTIFACTS", str(root))
    return ArtifactStore(root)


@pytest.fixture(scope="session")
def built_book():
    """Build the whole book once, from clean, with warnings as errors (``-W -n``).
    Set ICL_BOOK_HTML to test an existing build instead."""
    if os.environ.get("ICL_BOOK_HTML"):
        return Path(os.environ["ICL_BOOK_HTML"])
    build = ROOT / "_build"
    shutil.rmtree(build, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", "-W", "-n", "--keep-going", str(ROOT)], cwd=ROOT,
                          capture_output=True, text=True)
    log = build / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"the book build failed (full log in {log}):\n{(proc.stdout + proc.stderr)[-6000:]}"
    return build / "html"


def perturbed_transformer(cfg, seed: int, scale: float):
    """A random float64 transformer with its norms and biases moved off their defaults and its other
    weights scaled by ``scale``, so that every term of a logit decomposition counts."""
    import torch

    from icl_book.models import Transformer

    torch.manual_seed(seed)
    model = Transformer(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
            else:
                p.mul_(scale)
    return model
