"""The artifact store: trained weights (safetensors) and results (JSON) with a checksum manifest.

Layout, under ``icl_book/artifacts/`` (or ``$ICL_BOOK_ARTIFACTS``)::

    manifest.json                  one entry per artifact: files and their sha256, the model,
                                   and the provenance (command, commit, device, wall time)
    <name>/weights.safetensors     model weights (optional: paper-scale runs ship results only)
    <name>/results.json            what the chapters plot

Every load checks the file's sha256 against the manifest first. A missing or corrupt file
raises an ``ArtifactError`` that names the file and the command that remakes it. Nothing
here unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

PACKAGE_STORE = Path(__file__).resolve().parent / "artifacts"   # the shipped data; this module is the code
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
RESULTS = "results.json"


class ArtifactError(RuntimeError):
    """A missing, unknown or corrupt artifact. The message says how to remake it."""


def store_root() -> Path:
    return Path(os.environ.get("ICL_BOOK_ARTIFACTS", PACKAGE_STORE))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; artifacts are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


# ---- tensors <-> bytes (tied weights are stored once) --------------------------------------

def state_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict with tied (shared) tensors kept once, contiguous, on the CPU."""
    seen, out = set(), {}
    for name, t in module.state_dict().items():
        key = (t.data_ptr(), t.shape, t.dtype) if t.numel() else (name,)
        if key in seen:
            continue
        seen.add(key)
        out[name] = t.detach().to("cpu").contiguous()
    return out


def load_state_tensors(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``module``; a tied tensor may be present under any one of its names."""
    state = module.state_dict()
    aliases: dict[int, list[str]] = {}
    for n, t in state.items():
        aliases.setdefault(t.data_ptr(), []).append(n)
    missing = [n for n, t in state.items() if not any(a in tensors for a in aliases[t.data_ptr()])]
    unexpected = [n for n in tensors if n not in state]
    if missing or unexpected:
        raise ArtifactError(f"{source}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
    module.load_state_dict(tensors, strict=False)


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> bytes:
    return save_safetensors_bytes(tensors, metadata={k: str(v) for k, v in (metadata or {}).items()})


# ---- provenance ---------------------------------------------------------------------------

def git_commit() -> str:
    """The commit of the working tree (``-dirty`` when it has uncommitted changes)."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    """The processor's model name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str | torch.device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads"


# ---- the store ----------------------------------------------------------------------------

class ArtifactStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else store_root()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {}
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise ArtifactError(f"{self.manifest_path} is not valid JSON ({e}); restore it from git "
                                f"(git checkout -- {self.manifest_path.name}) or retrain the artifacts") from e

    def names(self) -> list[str]:
        return sorted(self.manifest())

    def entry(self, name: str) -> dict:
        manifest = self.manifest()
        if name not in manifest:
            known = ", ".join(sorted(manifest)) or "none"
            raise ArtifactError(f"no artifact named {name!r} in {self.manifest_path} (known: {known}); "
                                f"make it with: {_remake_hint(name)}")
        return manifest[name]

    def path(self, name: str, filename: str) -> Path:
        return self.root / name / filename

    def checked_bytes(self, name: str, filename: str) -> bytes:
        """The file's bytes, after checking them against the manifest's sha256."""
        entry = self.entry(name)
        expected = entry["files"].get(filename)
        path = self.path(name, filename)
        remake = entry.get("command", _remake_hint(name))
        if expected is None:
            raise ArtifactError(f"artifact {name!r} has no file {filename!r}; remake it with: {remake}")
        if not path.exists():
            raise ArtifactError(f"artifact file {path} is missing; remake it with: {remake}")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ArtifactError(f"artifact file {path} is corrupt (sha256 {actual[:12]}… but the manifest "
                                f"says {expected[:12]}…); restore it from git or remake it with: {remake}")
        return data

    def results(self, name: str) -> dict:
        return json.loads(self.checked_bytes(name, RESULTS))

    def weights(self, name: str) -> dict[str, torch.Tensor]:
        return load_safetensors_bytes(self.checked_bytes(name, WEIGHTS))

    def model(self, name: str) -> torch.nn.Module:
        """Rebuild the model from its stored kind and config and load its verified weights."""
        from .models import build_model

        entry = self.entry(name)
        if "model" not in entry:
            raise ArtifactError(f"artifact {name!r} stores results only, no model; read it with results({name!r})")
        spec = entry["model"]
        model = build_model(spec["kind"], spec["config"])
        load_state_tensors(model, self.weights(name), str(self.path(name, WEIGHTS)))
        return model.eval()

    def save(self, name: str, *, results: dict, provenance: dict, model: torch.nn.Module | None = None,
             model_spec: dict | None = None) -> dict:
        """Write results (and weights), then record their checksums in the manifest."""
        files = {RESULTS: dump_json(results).encode()}
        if model is not None:
            files[WEIGHTS] = tensors_to_bytes(state_tensors(model))
        for filename, data in files.items():
            atomic_write(self.path(name, filename), data)
        entry = dict(provenance)
        entry["files"] = {fn: hashlib.sha256(data).hexdigest() for fn, data in files.items()}
        if model_spec is not None:
            entry["model"] = model_spec
        manifest = self.manifest()
        manifest[name] = entry
        atomic_write(self.manifest_path, dump_json(manifest))
        return entry

    def verify(self) -> list[tuple[str, str, str | None]]:
        """Check every file of every artifact: ``(name, filename, error or None)``."""
        report = []
        for name, entry in sorted(self.manifest().items()):
            for filename in sorted(entry.get("files", {})):
                try:
                    self.checked_bytes(name, filename)
                    report.append((name, filename, None))
                except ArtifactError as e:
                    report.append((name, filename, str(e)))
        return report


def _remake_hint(name: str) -> str:
    exp, _, profile = name.rpartition("-")
    return f"icl-book train {exp} --profile {profile}" if exp else f"icl-book train {name}"


def default_store() -> ArtifactStore:
    return ArtifactStore()
