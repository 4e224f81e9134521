"""File primitives the store, the checkpoints and the sweeps share: paths as a user can type them,
checksums, writes that a crash never leaves half done, held interrupts, and locks between processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path


class Busy(RuntimeError):
    """Another process holds the lock of a run directory."""


def shown(path: str | Path) -> str:
    """``path`` as a user at the current directory (the repository root) can type it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):  # outside the current directory, or no current directory
        return str(path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stage(path: Path, data: bytes | str) -> Path:
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
    os.replace(stage(path, data), path)


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
