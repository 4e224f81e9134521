"""The artifact store: trained weights (safetensors) and results (JSON) with a checksum manifest.

Layout, under ``icl_book/artifacts/`` (or ``$ICL_BOOK_ARTIFACTS``)::

    manifest.json                  one entry per artifact: files and their sha256, the model,
                                   and the provenance (command, commit, device, wall time)
    <name>/weights.safetensors     model weights (optional: paper-scale runs ship results only)
    <name>/results.json            what the chapters plot

Every load checks the file's sha256 against the manifest first. A missing or corrupt file
raises an ``ArtifactError`` that names the file and the command that remakes it. Nothing
here unpickles anything.

Writes are atomic and one at a time: a save takes the store's lock (``.lock``, never listed),
writes every file under a temporary name, then renames them into place with the manifest last,
so a full disk or an interrupt leaves the previous artifact as it was, still verified. Before
the renames it writes a journal (``.journal``) of them; a process killed midway (SIGKILL, power)
leaves the journal, and the store's next save or verification, or a read that finds the new
manifest beside an old file, finishes the renames (every staged file was complete before the
journal was written, so rolling forward is always possible).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

PACKAGE_STORE = Path(__file__).resolve().parent / "artifacts"   # the shipped data; this module is the code
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
RESULTS = "results.json"
LOCK = ".lock"
JOURNAL = ".journal"


class ArtifactError(RuntimeError):
    """A missing, unknown or corrupt artifact. The message says how to remake it."""


class ArtifactMissing(ArtifactError):
    """The store has no entry of that name: never trained here (as opposed to damaged)."""


class Busy(RuntimeError):
    """Another process holds the lock of a run directory."""


def shown(path: str | Path) -> str:
    """``path`` as a user at the current directory (the repository root) can type it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):  # outside the current directory, or no current directory
        return str(path)


def store_root() -> Path:
    return Path(os.environ.get("ICL_BOOK_ARTIFACTS", PACKAGE_STORE))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stage(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path`` (flushed to disk) and return its name."""
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    path = Path(path)
    os.replace(_stage(path, data), path)


@contextmanager
def deferred_interrupts():
    """Hold Ctrl-C and SIGTERM until the block ends (a few renames must happen together)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])


@contextmanager
def file_lock(path: Path, *, wait: bool = True, busy: str = ""):
    """Hold an exclusive ``flock`` on ``path`` (created if need be). ``wait=False``: raise ``Busy``
    with the message ``busy`` when another process holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(busy or f"another process holds {shown(path)}") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
        where = shown(self.manifest_path)
        restore = f"restore it from git (git checkout -- {where}) or retrain the artifacts"
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ArtifactError(f"{where} is not valid JSON ({e}); {restore}") from e
        problem = _manifest_problem(manifest)
        if problem:
            raise ArtifactError(f"{where} is not a manifest ({problem}); {restore}")
        return manifest

    def names(self) -> list[str]:
        return sorted(self.manifest())

    def entry(self, name: str) -> dict:
        manifest = self.manifest()
        if name not in manifest:
            known = ", ".join(sorted(manifest)) or "none"
            raise ArtifactMissing(f"no artifact named {name!r} in {shown(self.manifest_path)} (known: {known}); "
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
        if not path.is_file():
            raise ArtifactError(f"artifact file {shown(path)} is missing; remake it with: {remake}")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected and self.finish_interrupted_save():
            return self.checked_bytes(name, filename)
        if actual != expected:
            raise ArtifactError(f"artifact file {shown(path)} is corrupt (sha256 {actual[:12]}… but the manifest "
                                f"says {expected[:12]}…); restore it from git or remake it with: {remake}")
        return data

    def _unreadable(self, name: str, filename: str, e: Exception) -> ArtifactError:
        remake = self.entry(name).get("command", _remake_hint(name))
        first = (str(e).splitlines() or [""])[0]
        return ArtifactError(f"artifact file {shown(self.path(name, filename))} matches its checksum but cannot "
                             f"be read ({type(e).__name__}: {first}); remake it with: {remake}")

    def _parsed(self, name: str, filename: str):
        """The verified file, parsed: JSON or safetensors (other files stay bytes)."""
        data = self.checked_bytes(name, filename)
        try:
            if filename.endswith(".json"):
                return json.loads(data)
            if filename.endswith(".safetensors"):
                return load_safetensors_bytes(data)
        except Exception as e:  # noqa: BLE001 -- JSON's ValueError, safetensors' SafetensorError
            raise self._unreadable(name, filename, e) from e
        return data

    def results(self, name: str) -> dict:
        return self._parsed(name, RESULTS)

    def weights(self, name: str) -> dict[str, torch.Tensor]:
        return self._parsed(name, WEIGHTS)

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
        entry = dict(provenance)
        if model_spec is not None:
            entry["model"] = model_spec
        return self._commit(name, files, entry)

    def copy_from(self, other: ArtifactStore, name: str) -> dict:
        """Copy artifact ``name`` and its manifest entry from ``other`` (verified there first)."""
        entry = {k: v for k, v in other.entry(name).items() if k != "files"}
        files = {fn: other.checked_bytes(name, fn) for fn in other.entry(name)["files"]}
        return self._commit(name, files, entry)

    def finish_interrupted_save(self) -> bool:
        """Finish the renames of a save that was killed midway (its journal is still there);
        True if there was one. Takes the store's lock."""
        if not (self.root / JOURNAL).exists():
            return False
        with file_lock(self.root / LOCK):
            return self._roll_forward()

    def _roll_forward(self) -> bool:
        """Under the store's lock: do the journal's renames that did not happen, then drop it."""
        journal = self.root / JOURNAL
        if not journal.exists():
            return False
        try:
            renames = json.loads(journal.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:  # atomic_write makes this a damaged disk
            raise ArtifactError(f"{shown(journal)} cannot be read ({e}); restore the store from git "
                                f"(git checkout -- {shown(self.root)}) and remove the journal") from e
        for tmp, final in renames:
            if (self.root / tmp).exists():
                os.replace(self.root / tmp, self.root / final)
        journal.unlink()
        return True

    def _commit(self, name: str, files: dict[str, bytes], entry: dict) -> dict:
        """Under the store's lock: every file under a temporary name first (a full disk fails
        here, and changes nothing), then the renames with the manifest last, interrupts held."""
        if not _NAME.fullmatch(name):
            raise ArtifactError(f"{name!r} is not an artifact name (letters, digits, '-', '_', '.')")
        entry = {**entry, "files": {fn: hashlib.sha256(data).hexdigest() for fn, data in files.items()}}
        folder = self.root / name
        with file_lock(self.root / LOCK):
            self._roll_forward()
            manifest = self.manifest()
            manifest[name] = entry
            staged: list[tuple[Path, Path]] = []
            journaled = False
            try:
                for filename, data in files.items():
                    staged.append((_stage(folder / filename, data), folder / filename))
                staged.append((_stage(self.manifest_path, dump_json(manifest)), self.manifest_path))
                with deferred_interrupts():
                    atomic_write(self.root / JOURNAL, json.dumps([[str(p.relative_to(self.root)) for p in pair]
                                                                  for pair in staged]))
                    journaled = True      # from here on the save completes, now or at the next access
                    for tmp, final in staged:
                        os.replace(tmp, final)
                    (self.root / JOURNAL).unlink()
            except BaseException:
                if not journaled:
                    for tmp, _ in staged:
                        tmp.unlink(missing_ok=True)
                raise
            for stray in folder.iterdir():  # files of the artifact's previous version, stale temporaries
                if stray.name not in files:
                    shutil.rmtree(stray) if stray.is_dir() else stray.unlink()
        return entry

    def verify(self) -> list[tuple[str, str, str | None]]:
        """Check every file of every artifact: ``(name, filename, error or None)``; a file or
        folder in the store that the manifest does not list is an error too."""
        report = []
        self.finish_interrupted_save()
        manifest = self.manifest()
        for name, entry in sorted(manifest.items()):
            for filename in sorted(entry["files"]):
                try:
                    self._parsed(name, filename)
                    report.append((name, filename, None))
                except ArtifactError as e:
                    report.append((name, filename, str(e)))
        for path in self._unlisted(manifest):
            rel = path.relative_to(self.root).parts
            kind = "folder" if path.is_dir() else "file"
            report.append((rel[0], "/".join(rel[1:]),
                           f"{kind} {shown(path)} is not listed in {shown(self.manifest_path)} (it would not ship); "
                           f"remove it, or store it with icl-book train / icl-book import"))
        return report

    def _unlisted(self, manifest: dict) -> list[Path]:
        if not self.root.is_dir():
            return []
        out = []
        for top in sorted(self.root.iterdir()):
            if top.name in (MANIFEST, LOCK, JOURNAL):
                continue
            if top.name not in manifest or not top.is_dir():
                out.append(top)
                continue
            out += [p for p in sorted(top.iterdir()) if p.name not in manifest[top.name]["files"]]
        return out


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _manifest_problem(manifest) -> str | None:
    """What makes ``manifest`` not a manifest (None when it is one)."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, not an object of artifacts"
    for name, entry in manifest.items():
        if not _NAME.fullmatch(name) or name in (MANIFEST, LOCK, JOURNAL):
            return f"{name!r} is not an artifact name"
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            return f"entry {name!r} has no 'files' object"
        for filename, digest in entry["files"].items():
            if not _NAME.fullmatch(filename) or not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
                return f"entry {name!r}: file {filename!r} needs a sha256 hex digest, got {digest!r}"
    return None


def _remake_hint(name: str) -> str:
    exp, _, profile = name.rpartition("-")
    return f"icl-book train {exp} --profile {profile}" if exp else f"icl-book train {name}"


def default_store() -> ArtifactStore:
    return ArtifactStore()
