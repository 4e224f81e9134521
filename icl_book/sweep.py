"""Sweeps through an existing launcher: one ``submitit`` job per (experiment, seed).

``icl-book sweep EXP [EXP ...] --profile P --seeds 0,1,2 [--launcher local|slurm]`` submits, for
each experiment and seed, one job that runs ``icl-book train EXP --profile P --seeds S`` into the
sweep's folder (its run directories and its own store). ``submitit`` does the launching: its
local executor (subprocesses on this machine, for the tests and a laptop) or SLURM on a cluster,
where a job that is preempted or reaches its time limit is requeued (``Checkpointable``) and
resumes its run directory's last checkpoint. When every job has ended, the sweep copies the
artifacts it made into the target store (verified, with their manifest entries).

Running the same sweep again continues it: a job whose artifact is in the sweep's store and whose
record (``jobs/NAME.json``: experiment, profile, seed, ``--set`` items, threads, device) is the
same is not submitted again, and a job with the same record and a checkpoint resumes from it.
A job whose record differs (another ``--set``, device or thread count) trains afresh, so the
sweep never collects an artifact made under other settings. There is no scheduler here.

submitit pickles each job's callable and its arguments (a ``JobSpec``, a folder name) into the
sweep's log folder, and its result (a line of text) back; only this sweep's own jobs read them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .checkpoints import has_checkpoint
from .config import ConfigError
from .files import atomic_write, dump_json, shown
from .store import ArtifactStore

LAUNCHERS = ("local", "slurm")


class SweepFailed(RuntimeError):
    """Some jobs of a sweep failed; running the same sweep again resumes them."""


@dataclass(frozen=True)
class JobSpec:
    experiment: str
    profile: str
    seed: int
    sets: tuple[str, ...] = ()      # --set FIELD=VALUE items, as given
    threads: int | None = None
    device: str = "cpu"

    @property
    def name(self) -> str:
        from .experiments import artifact_name

        return artifact_name(self.experiment, self.profile, self.seed)

    def record(self) -> dict:
        """What identifies the run (JSON): a rerun reuses a job's artifact or checkpoint only if equal."""
        return {**asdict(self), "sets": list(self.sets)}


def _record_path(folder: Path, spec: JobSpec) -> Path:
    return folder / "jobs" / f"{spec.name}.json"


def _recorded(folder: Path, spec: JobSpec) -> dict | None:
    """The record a job of this name left in ``folder`` (None: none, or unreadable)."""
    try:
        return json.loads(_record_path(folder, spec).read_text())
    except (OSError, ValueError):
        return None


def _is_done(folder: Path, spec: JobSpec, store: ArtifactStore) -> bool:
    return _recorded(folder, spec) == {"spec": spec.record(), "done": True} and spec.name in store.names()


def _submitit():
    try:
        import submitit
    except ImportError:  # pragma: no cover -- an install without the sweep extra
        raise ConfigError("icl-book sweep needs submitit: pip install 'icl-book[sweep]'") from None
    return submitit


class TrainJob:
    """The callable each job runs: train one seed into ``folder`` (resuming its checkpoint if it
    has one), or do nothing when its artifact is already in the sweep's store. ``checkpoint``
    (submitit's hook on preemption or timeout) requeues the same call, which then resumes."""

    def __call__(self, spec: JobSpec, folder: str) -> str:
        folder = Path(folder)
        store = ArtifactStore(folder / "store")
        if _is_done(folder, spec, store):
            return f"{spec.name}: already done"
        # A checkpoint a job under other settings left is not resumed; one without a record is
        # (the training loop refuses it if its config or thread count differs).
        stale = (_recorded(folder, spec) or {"spec": spec.record()}).get("spec") != spec.record()
        step = None if stale else has_checkpoint(folder / "runs" / spec.name)
        atomic_write(_record_path(folder, spec), dump_json({"spec": spec.record(), "done": False}))
        argv = ["train", spec.experiment, "--profile", spec.profile, "--seeds", str(spec.seed),
                "--device", spec.device, "--run-dir", str(folder / "runs"), "--store", str(store.root), "--quiet",
                "--resume" if step else "--fresh"]
        for item in spec.sets:
            argv += ["--set", item]
        if spec.threads:
            argv += ["--threads", str(spec.threads)]
        # The command line in a child process (its output lands in this job's log), so this module
        # needs nothing from the CLI that calls it.
        code = subprocess.run([sys.executable, "-m", "icl_book.cli", *argv]).returncode
        if code:
            raise RuntimeError(f"icl-book {' '.join(argv)} exited with status {code}")
        atomic_write(_record_path(folder, spec), dump_json({"spec": spec.record(), "done": True}))
        return f"{spec.name}: " + (f"resumed from step {step}" if step else "trained")

    def checkpoint(self, *args, **kwargs):
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)


def _reason(e: Exception) -> str:
    """The line of a failed job's traceback (which submitit passes on) that says what went wrong."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    said = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b", line)]
    return (said or lines or [type(e).__name__])[-1]


def _executor(launcher: str, folder: Path, *, timeout_min: int, partition: str | None, gpus: int, cpus: int):
    submitit = _submitit()
    logs = folder / "logs"
    if launcher == "local":
        ex = submitit.LocalExecutor(folder=logs)
        ex.update_parameters(timeout_min=timeout_min)
        return ex
    if shutil.which("sbatch") is None:
        raise ConfigError("--launcher slurm needs SLURM (no sbatch on PATH); use --launcher local on this machine")
    ex = submitit.AutoExecutor(folder=logs, cluster="slurm")
    ex.update_parameters(timeout_min=timeout_min, gpus_per_node=gpus, cpus_per_task=cpus, tasks_per_node=1,
                         **({"slurm_partition": partition} if partition else {}))
    return ex


def sweep(experiments_: list[str], profile: str, seeds: list[int], *, launcher: str = "local",
          folder: str | Path = "runs/sweeps", store: ArtifactStore | None = None, sets: tuple[str, ...] = (),
          threads: int | None = None, device: str = "cpu", parallel: int = 1, timeout_min: int = 60 * 24,
          partition: str | None = None, gpus: int = 0, cpus: int = 1, log=print) -> list[str]:
    """Train every (experiment, seed) as its own job and copy the artifacts into ``store``.
    ``parallel``: jobs at once with the local launcher (SLURM schedules its own). Returns one
    line per job: trained, resumed from step N, or already done."""
    from . import experiments as ex_mod

    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {parallel}")
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    for name in experiments_:
        exp = ex_mod.get(name)
        exp.profile(profile)
        if exp.compute is not None:
            raise ConfigError(f"experiment {name!r} computes results and trains nothing: it has no seeds to sweep")
    folder = Path(folder)
    specs = [JobSpec(e, profile, s, tuple(sets), threads, device) for e in experiments_ for s in seeds]
    done_store = ArtifactStore(folder / "store")
    if store is not None:
        store.check_writable()   # the collection at the end must not find it read-only
    done = {s.name for s in specs if _is_done(folder, s, done_store)}
    todo = [s for s in specs if s.name not in done]
    lines = [f"{s.name}: already done" for s in specs if s.name in done]
    for line in lines:
        log(line)
    if todo:
        executor = _executor(launcher, folder, timeout_min=timeout_min, partition=partition, gpus=gpus, cpus=cpus)
        waves = [todo[i:i + parallel] for i in range(0, len(todo), parallel)] if launcher == "local" else [todo]
        failures = []
        for wave in waves:
            jobs = [(spec, executor.submit(TrainJob(), spec, str(folder))) for spec in wave]
            for spec, job in jobs:
                log(f"submitted {spec.name} as job {job.job_id} ({launcher})")
            for spec, job in jobs:
                try:
                    lines.append(job.result())
                    log(lines[-1])
                except Exception as e:  # noqa: BLE001 -- submitit re-raises the job's failure
                    failures.append(f"{spec.name} (job {job.job_id}: {_reason(e)}; log {shown(Path(job.paths.stderr))})")
        if failures:
            raise SweepFailed("sweep jobs failed: " + "; ".join(failures)
                               + ". Run the same sweep again to resume them")
    if store is not None:
        for spec in specs:
            store.copy_from(done_store, spec.name)
    return lines
