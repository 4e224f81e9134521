"""The artifact store: trained weights (safetensors) and results (JSON) with a checksum manifest.

Layout, under ``icl_book/artifacts/`` (or ``$ICL_BOOK_ARTIFACTS``)::

    manifest.json                  one entry per artifact: files and their sha256, the model,
                                   and the provenance (command, commit, device, wall time)
    <name>/weights.safetensors     model weights (optional: paper-scale runs ship results only)
    <name>/results.json            what the chapters plot

Every load checks the file's sha256 against the manifest first. A missing or corrupt file
raises an ``ArtifactError`` that names the file and the command that remakes it. Nothing
here unpickles anything.

The store touches only its own files. Every path it takes from its own files (the manifest's
names, the journal's renames) is checked to lie inside the root with no symbolic link on the
way, and a save removes only the previous version's files and its own stale temporaries,
never whatever else a folder holds. The root may be relative: it is made absolute once, here.

Writes are atomic and one at a time: a save takes the store's lock (``.lock``, never listed),
writes every file under a temporary name, then renames them into place with the manifest last,
so a full disk or an interrupt leaves the previous artifact as it was, still verified. Before
the renames it writes a journal (``.journal``) of them; a process killed midway (SIGKILL, power)
leaves the journal, and the store's next save or verification, or a read that finds the new
manifest beside an old file, finishes the renames (every staged file was complete before the
journal was written, so rolling forward is always possible). A journal is rolled forward only
when it has exactly the shape this module writes and its staged files match the staged
manifest's checksums; any other is refused, kept, and reported in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes

from .files import atomic_write, deferred_interrupts, dump_json, file_lock, sha256, shown, stage
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


class NotWritable(OSError):
    """A store or run directory that cannot take files, found before any training starts."""


def store_root() -> Path:
    return Path(os.environ.get("ICL_BOOK_ARTIFACTS", PACKAGE_STORE))


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


# ---- the store ----------------------------------------------------------------------------

class ArtifactStore:
    """``read_only``: never write, not even to finish an interrupted save (a store someone sent you)."""

    def __init__(self, root: str | Path | None = None, *, read_only: bool = False):
        # Absolute once, here: mkstemp's names are absolute, and the working directory may change.
        self.root = Path(os.path.abspath(root if root is not None else store_root()))
        self.read_only = read_only

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {}
        where = shown(self.manifest_path)
        restore = f"restore it from git (git checkout -- {where}) or retrain the artifacts"
        self._own(MANIFEST)
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ArtifactError(f"{where} is not valid JSON ({e}); {restore}") from e
        except OSError as e:
            raise ArtifactError(f"{where} cannot be read ({e.strerror or e}); {restore}") from e
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

    def _own(self, *parts: str) -> Path:
        """``root/parts...``, refused unless every part is a plain name and nothing below the root
        on the way is a symbolic link (which could lead out of the store)."""
        path = self.root
        for part in parts:
            if part in ("", ".", "..") or "/" in part or "\0" in part or os.sep in part:
                raise ArtifactError(f"{part!r} is not a name inside the store {shown(self.root)}")
            path = path / part
            if path.is_symlink():
                raise ArtifactError(f"{shown(path)} is a symbolic link, and the store reads and writes only its own "
                                    f"files; replace the link (not its target) by a copy of what it points to")
        return path

    def checked_bytes(self, name: str, filename: str) -> bytes:
        """The file's bytes, after checking them against the manifest's sha256."""
        entry = self.entry(name)
        expected = entry["files"].get(filename)
        remake = entry.get("command", _remake_hint(name))
        if expected is None:
            raise ArtifactError(f"artifact {name!r} has no file {filename!r}; remake it with: {remake}")
        path = self._own(name, filename)
        if not path.is_file():
            raise ArtifactError(f"artifact file {shown(path)} is missing; remake it with: {remake}")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ArtifactError(f"artifact file {shown(path)} cannot be read ({e.strerror or e}); "
                                f"remake it with: {remake}") from e
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected and not self.read_only and self.finish_interrupted_save():
            return self.checked_bytes(name, filename)
        if actual != expected:
            unfinished = " (its store has an unfinished save, .journal)" if (self.root / JOURNAL).exists() else ""
            raise ArtifactError(f"artifact file {shown(path)} is corrupt{unfinished} (sha256 {actual[:12]}… but the "
                                f"manifest says {expected[:12]}…); restore it from git or remake it with: {remake}")
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
        load_state_tensors(model, self.weights(name), shown(self.path(name, WEIGHTS)))
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
        journal = self.root / JOURNAL
        if not (journal.exists() or journal.is_symlink()):
            return False
        if self.read_only:
            raise ArtifactError(f"{shown(journal)}: the store {shown(self.root)} has an unfinished save; "
                                f"run icl-book verify with ICL_BOOK_ARTIFACTS={shown(self.root)} to finish it first")
        with file_lock(self.root / LOCK):
            return self._roll_forward()

    def _roll_forward(self) -> bool:
        """Under the store's lock: do the journal's renames that did not happen, then drop it.
        Only a journal this module wrote is obeyed (``_journal_renames``); any other is kept and
        refused, and nothing is renamed."""
        journal = self.root / JOURNAL
        if not (journal.exists() or journal.is_symlink()):
            return False
        try:
            renames = self._journal_renames()
        except ValueError as e:
            raise ArtifactError(f"{shown(journal)} was refused and kept, nothing renamed ({e}); it is not one this "
                                f"store writes: look at it, then remove it") from None
        for tmp, final in renames:
            if tmp.exists():
                os.replace(tmp, final)
        journal.unlink()
        return True

    def _journal_renames(self) -> list[tuple[Path, Path]]:
        """The journal's renames as paths, after checking it is one ``_commit`` wrote: the right
        shape, each staged file beside its final name and named as ``_stage`` names it, every
        path inside the store with no link on the way, the manifest last, and every staged
        file still waiting matching the staged manifest's checksum. ValueError otherwise."""
        journal = self.root / JOURNAL
        if journal.is_symlink():
            raise ValueError("it is a symbolic link")
        try:
            data = json.loads(journal.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"unreadable: {e}") from None
        if not (isinstance(data, dict) and set(data) == {"journal", "renames"} and data["journal"] == JOURNAL_KIND
                and isinstance(data["renames"], list) and data["renames"]):
            raise ValueError(f"not an object {{'journal': {JOURNAL_KIND!r}, 'renames': [...]}}")
        renames = []
        for pair in data["renames"]:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ValueError(f"a rename is a pair of paths, got {pair!r}")
            tmp, final = (p.split("/") for p in pair)
            if not (final == [MANIFEST] or (len(final) == 2 and _NAME.fullmatch(final[0]) and _NAME.fullmatch(final[1]))):
                raise ValueError(f"{pair[1]!r} is neither {MANIFEST} nor ARTIFACT/FILE")
            if tmp[:-1] != final[:-1] or not _staged_name(final[-1]).fullmatch(tmp[-1]):
                raise ValueError(f"{pair[0]!r} is not a file this store stages for {pair[1]!r}")
            try:
                renames.append((self._own(*tmp), self._own(*final)))
            except ArtifactError as e:
                raise ValueError(str(e)) from None
        finals = [final for _, final in renames]
        if finals[-1] != self.manifest_path or finals.count(self.manifest_path) != 1 or len(set(finals)) != len(finals):
            raise ValueError(f"the renames must end with {MANIFEST}, once, and name each file once")
        staged_manifest = renames[-1][0]
        if staged_manifest.exists():   # the save stopped before its last rename: check what it would install
            try:
                manifest = json.loads(staged_manifest.read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"its staged manifest is unreadable: {e}") from None
            if _manifest_problem(manifest):
                raise ValueError(f"its staged manifest is not a manifest ({_manifest_problem(manifest)})")
            for tmp, final in renames[:-1]:
                name, filename = final.parent.name, final.name
                if not tmp.exists():
                    continue
                digest = manifest.get(name, {}).get("files", {}).get(filename)
                if digest is None or sha256(tmp) != digest:
                    raise ValueError(f"staged {shown(tmp)} does not match the staged manifest's checksum")
        return renames

    def _commit(self, name: str, files: dict[str, bytes], entry: dict) -> dict:
        """Under the store's lock: every file under a temporary name first (a full disk fails
        here, and changes nothing), then the renames with the manifest last, interrupts held."""
        if not _NAME.fullmatch(name):
            raise ArtifactError(f"{name!r} is not an artifact name (letters, digits, '-', '_', '.')")
        if self.read_only:
            raise ArtifactError(f"the store {shown(self.root)} was opened read-only")
        for filename in files:
            if not _NAME.fullmatch(filename) or filename in (MANIFEST, LOCK, JOURNAL):
                raise ArtifactError(f"{filename!r} is not an artifact file name")
        entry = {**entry, "files": {fn: hashlib.sha256(data).hexdigest() for fn, data in files.items()}}
        folder = self._own(name)
        if folder.exists() and not folder.is_dir():
            raise ArtifactError(f"{shown(folder)} is a file, not an artifact folder; move it away and save again")
        with file_lock(self._own(LOCK)):
            self._roll_forward()
            manifest = self.manifest()
            previous = set(manifest.get(name, {}).get("files", {}))
            manifest[name] = entry
            staged: list[tuple[Path, Path]] = []
            journaled = False
            try:
                for filename, data in files.items():
                    staged.append((stage(folder / filename, data), folder / filename))
                staged.append((stage(self.manifest_path, dump_json(manifest)), self.manifest_path))
                journal = {"journal": JOURNAL_KIND,
                           "renames": [[p.relative_to(self.root).as_posix() for p in pair] for pair in staged]}
                with deferred_interrupts():
                    atomic_write(self._own(JOURNAL), json.dumps(journal))
                    journaled = True      # from here on the save completes, now or at the next access
                    for tmp, final in staged:
                        os.replace(tmp, final)
                    (self.root / JOURNAL).unlink()
            except BaseException:
                if not journaled:
                    for tmp, _ in staged:
                        tmp.unlink(missing_ok=True)
                raise
            # The previous version's files and this module's stale temporaries; nothing else
            # (a file the store did not write stays, and verify reports it).
            for stray in folder.iterdir():
                ours = stray.name in previous or any(_staged_name(fn).fullmatch(stray.name)
                                                     for fn in previous | set(files))
                if stray.name not in files and ours and not stray.is_symlink() and stray.is_file():
                    stray.unlink()
        return entry

    def check_writable(self) -> None:
        """Before a long run: the store's folder exists or can be made, and takes a file (so a
        read-only or mistyped ``--store`` fails now, not after the training)."""
        if self.root.exists() and not self.root.is_dir():
            raise NotWritable(f"the store {shown(self.root)} is a file, not a folder; give --store a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".writable.", suffix=".tmp")
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            raise NotWritable(f"the store {shown(self.root)} is not writable ({e.strerror or e}); "
                              f"give --store a folder you can write") from e

    def check_apart(self, names: list[str], run_root: str | Path) -> None:
        """Refuse a store whose artifact folders overlap the run directories ``run_root/NAME``
        (``--run-dir X --store X``): a save would share a folder with checkpoints and the run's lock."""
        for name in names:
            art, run = (Path(os.path.abspath(p)).resolve() for p in (self.root / name, Path(run_root) / name))
            if art == run or art in run.parents or run in art.parents:
                raise NotWritable(f"the store's folder {shown(art)} overlaps the run directory {shown(run)}; "
                                  f"give --store and --run-dir separate folders")

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
            if path.is_symlink():
                problem = (f"symbolic link {shown(path)} is not a file the store lists in {shown(self.manifest_path)}; "
                           f"remove the link itself (rm {shown(path)}), not what it points to")
            else:
                kind = "folder" if path.is_dir() else "file"
                problem = (f"{kind} {shown(path)} is not listed in {shown(self.manifest_path)} (it would not ship); "
                           f"remove it, or store it with icl-book train / icl-book import")
            report.append((rel[0], "/".join(rel[1:]), problem))
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
            if top.is_symlink():  # a listed artifact's linked folder: its reads fail, and say so
                continue
            out += [p for p in sorted(top.iterdir()) if p.name not in manifest[top.name]["files"]]
        return out


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
JOURNAL_KIND = "icl-book store renames, v1"


def _staged_name(filename: str) -> re.Pattern:
    """The names ``_stage`` gives ``filename``'s temporaries (``mkstemp``'s random part between)."""
    return re.compile(rf"\.{re.escape(filename)}\.[A-Za-z0-9_]+\.tmp")


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
