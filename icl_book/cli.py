"""``icl-book``: list experiments and artifacts, train, verify the store, print the scorecard.

    icl-book list
    icl-book train linreg --profile cpu [--device cpu|cuda] [--resume | --fresh] [--set lr=3e-4]
                   [--set model.n_layer=4] [--seeds 0,1,2] [--threads N] [--run-dir runs] [--store PATH]
    torchrun --nproc-per-node N -m icl_book.cli train ...   data parallel (gloo on CPU, NCCL on GPUs)
    icl-book sweep EXP [EXP ...] --profile P --seeds 0,1,2 [--launcher local|slurm]   one submitit job per seed
    icl-book retrain [NAME ...]            retrain every shipped cpu artifact (or the named ones)
    icl-book import STORE NAME [NAME ...]  copy artifacts and their manifest entries from another store
    icl-book verify
    icl-book claims [--json]            exit 3 if the store is damaged; "not run" only for an absent artifact

Every failure ends with one line that says what went wrong and what to do, and an exit status
that says which kind of failure it was (``EXIT``).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
import sys
from pathlib import Path

from . import claims as claims_mod
from . import experiments
from .checkpoints import has_checkpoint
from .config import ConfigError
from .files import Busy, shown
from .seeding import MAX_SEED
from .store import ArtifactError, ArtifactStore, NotWritable
from .sweep import SweepFailed
from .train import Interrupted

EXIT = {"ok": 0, "verify failed": 1, "bad argument or config": 2, "artifact missing, corrupt or unreadable": 3,
        "training diverged": 4, "disk full or not writable": 5, "run directory busy": 6, "sweep job failed": 7,
        "interrupted": 130,
        "output closed (broken pipe)": 141}


class BadArguments(ValueError):
    """A command line argparse refuses (the user's, or one a manifest records)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block; the caller says whose line it was
        raise BadArguments(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="icl-book", description="Train, check and score the book's experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="experiments, their profiles, and the artifacts in the store")
    t = sub.add_parser("train", help="train one experiment and store its artifact")
    t.add_argument("experiment")
    t.add_argument("--profile", required=True, choices=experiments.PROFILES)
    t.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    again.add_argument("--fresh", action="store_true", help="discard the run's checkpoint and start again")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field: lr=3e-4 (training), model.n_layer=4, task.d=8 (repeatable)")
    t.add_argument("--seeds", type=_seeds, metavar="S,S,...",
                   help="train these seeds side by side in this process, each its own artifact "
                        "(EXP-PROFILE for seed 0, EXP-PROFILE-seedS otherwise)")
    t.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's); part of the run's identity")
    t.add_argument("--run-dir", default="runs", help="where checkpoints go (default: runs/)")
    t.add_argument("--store", help="the store to write (default: $ICL_BOOK_ARTIFACTS, else the package's for an "
                                   "unchanged cpu or paper profile, else RUN_DIR/artifacts)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    w = sub.add_parser("sweep", help="one job per (experiment, seed) through submitit (local or SLURM)")
    w.add_argument("experiments", nargs="+")
    w.add_argument("--profile", required=True, choices=experiments.PROFILES)
    w.add_argument("--seeds", type=_seeds, required=True, metavar="S,S,...")
    w.add_argument("--launcher", default="local", choices=("local", "slurm"))
    w.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    w.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    w.add_argument("--threads", type=int, help="CPU threads per job")
    w.add_argument("--folder", default="runs/sweeps", help="the sweep's run directories, store and job logs")
    w.add_argument("--store", help="where the artifacts are collected (default as for train)")
    w.add_argument("--parallel", type=int, default=1, help="jobs at once with the local launcher (default 1)")
    w.add_argument("--timeout-min", type=int, default=24 * 60, help="each job's time limit (minutes)")
    w.add_argument("--partition", help="SLURM partition")
    w.add_argument("--gpus", type=int, default=0, help="GPUs per SLURM job")
    r = sub.add_parser("retrain", help="retrain artifacts of the store with the commands they were made by")
    r.add_argument("names", nargs="*", help="artifacts to retrain (default: every cpu-profile one)")
    r.add_argument("--run-dir", default="runs")
    i = sub.add_parser("import", help="copy artifacts and their manifest entries from another store into this one")
    i.add_argument("source", help="the other store (a folder with a manifest.json)")
    i.add_argument("names", nargs="+")
    i.add_argument("--store", help="the store to write (default: $ICL_BOOK_ARTIFACTS, else the package's)")
    sub.add_parser("verify", help="check every artifact against the manifest; exit 0 only if all pass")
    c = sub.add_parser("claims", help="the scorecard: our value, the paper's, the verdict")
    c.add_argument("--json", action="store_true")
    return p


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes integers separated by commas (0,1,2), got {text!r}") from None
    if any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds takes distinct integers from 0 to 2**63 - 1, got {text!r}")
    return seeds


def _list(store: ArtifactStore) -> int:
    names = set(store.names())
    for exp in experiments.EXPERIMENTS.values():
        print(f"{exp.name}  ({exp.chapter})  {exp.summary}")
        for profile in exp.profiles:
            art = experiments.artifact_name(exp.name, profile)
            state = "shipped" if art in names else "not trained"
            print(f"  {profile:<6} {art:<20} {state}")
    return 0


def _overrides(args) -> dict[str, str]:
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes FIELD=VALUE, got {item!r}")
        overrides[key] = value
    return overrides


def _command(args, *, resume: bool = False, everything: bool = False, seeds: list[int] | None = None) -> str:
    """The ``icl-book train`` command of this run: what remakes it (recorded in the manifest), or
    with ``everything`` the one that continues it here (run dir, store, device and threads too).
    ``seeds``: the command of those seeds (one seed's artifact records its own seed alone)."""
    parts = ["icl-book", "train", args.experiment, "--profile", args.profile]
    if everything or args.device != "cpu":
        parts += ["--device", args.device]
    for item in args.set:
        parts += ["--set", item]
    seeds = args.seeds if seeds is None else seeds
    if seeds and seeds != [0]:
        parts += ["--seeds", ",".join(map(str, seeds))]
    if args.threads or (everything and args.device == "cpu"):
        import torch

        parts += ["--threads", str(args.threads or torch.get_num_threads())]
    if everything:
        parts += ["--run-dir", args.run_dir] + (["--store", args.store] if args.store else [])
    parts.append("--resume" if resume else "--fresh")
    return shlex.join(parts + (["--quiet"] if args.quiet else []))


def _target_store(args, overrides: dict) -> ArtifactStore:
    """Smoke runs and ``--set`` runs never write the package's store unless asked (``--store``)."""
    if args.store:
        return ArtifactStore(args.store)
    if os.environ.get("ICL_BOOK_ARTIFACTS") or (args.profile != "smoke" and not overrides):
        return ArtifactStore()
    return ArtifactStore(Path(args.run_dir) / "artifacts")


def _train(args, store: ArtifactStore | None = None) -> int:
    _overrides(args)  # a malformed --set fails here, before any process group starts
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun: data parallel
        return _train_distributed(args, store)
    return _train_here(args, store)


def _train_distributed(args, store: ArtifactStore | None) -> int:
    """One process of ``torchrun --nproc-per-node N -m icl_book.cli train ...``: gloo on the
    CPU, NCCL on GPUs (one per process, by LOCAL_RANK); rank 0 alone prints and writes."""
    import torch
    import torch.distributed as dist

    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device cuda was asked for, but PyTorch sees no CUDA device")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if args.device == "cuda" else "gloo")
    try:
        if dist.get_rank() != 0:
            args.quiet = True
        return _train_here(args, store)
    finally:
        dist.destroy_process_group()


def _train_here(args, store: ArtifactStore | None = None) -> int:
    overrides = _overrides(args)
    store = store or _target_store(args, overrides)
    if not args.seeds:
        entry = experiments.run(args.experiment, args.profile, device=args.device, resume=args.resume,
                                fresh=args.fresh, overrides=overrides, store=store, run_root=args.run_dir,
                                progress=not args.quiet, command=_command(args))
        entries = [entry] if entry is not None else []
    else:
        entries = experiments.run_seeds(args.experiment, args.profile, args.seeds, device=args.device,
                                        resume=args.resume, fresh=args.fresh, overrides=overrides, store=store,
                                        run_root=args.run_dir, progress=not args.quiet,
                                        commands=[_command(args, seeds=[s]) for s in args.seeds])
    for name, entry in zip(_artifact_names(args), entries):
        together = f", side by side with seeds {entry['seeds_together']}" if "seeds_together" in entry else ""
        print(f"stored {name} in {shown(store.root)} ({entry['wall_time_s']} s on {entry['device']}{together})")
    return 0


def _artifact_names(args) -> list[str]:
    """The artifacts (and run directories) of an ``icl-book train`` command."""
    if args.seeds:
        return [experiments.artifact_name(args.experiment, args.profile, s) for s in args.seeds]
    seed = 0
    for item in args.set:  # --set seed=S names the artifact as --seeds S does
        key, _, value = item.partition("=")
        if key in ("seed", "train.seed"):
            try:
                seed = int(value)
            except ValueError:
                pass
    return [experiments.artifact_name(args.experiment, args.profile, seed) if seed >= 0 else
            experiments.artifact_name(args.experiment, args.profile)]


def _sweep(args) -> int:
    from .sweep import sweep

    overrides = _overrides(args)
    args.run_dir = args.folder
    store = _target_store(args, overrides)
    sweep(args.experiments, args.profile, args.seeds, launcher=args.launcher, folder=args.folder, store=store,
          sets=tuple(args.set), threads=args.threads, device=args.device, parallel=args.parallel,
          timeout_min=args.timeout_min, partition=args.partition, gpus=args.gpus,
          log=lambda line: print(line, flush=True))
    print(f"collected {len(args.experiments) * len(args.seeds)} artifacts in {shown(store.root)}")
    return 0


def recorded_train(name: str, entry: dict) -> argparse.Namespace:
    """The ``icl-book train`` arguments an artifact's manifest entry records, refused in one line
    unless they train exactly that artifact (its experiment, profile and seed) into the store
    that holds it: an edited entry must not retrain, or stand in for, another artifact."""
    command = entry.get("command")
    why = None
    try:
        argv = shlex.split(command) if isinstance(command, str) else None
        if not argv or argv[:2] != ["icl-book", "train"]:
            why = "it is not an icl-book train command"
        elif {"-h", "--help"} & set(argv):
            why = "it asks for help instead of training"
        else:
            args = _parser().parse_args(argv[1:])
            made = _artifact_names(args)
            if args.store or args.run_dir != "runs" or args.resume:
                why = "it names its own --store, --run-dir or --resume"
            elif made != [name]:
                why = f"it trains {', '.join(made)}"
            elif any(entry.get(k, v) != v for k, v in (("experiment", args.experiment), ("profile", args.profile))):
                why = f"the entry says experiment {entry.get('experiment')!r}, profile {entry.get('profile')!r}"
    except (ValueError, ConfigError) as e:   # shlex's unbalanced quotes, BadArguments, a bad --set seed
        why = f"it does not parse: {e}"

    if why:
        raise ArtifactError(f"artifact {name!r} records the command {command!r}, which is refused: {why}; "
                            f"fix its manifest entry or remake it with: icl-book train ... (icl-book list)")
    return args


def _retrain(args, store: ArtifactStore) -> int:
    """Run each artifact's recorded command again, into this store, after checking that it remakes
    that artifact (``recorded_train``); every command is checked before the first one runs."""
    manifest = store.manifest()
    names = args.names or [n for n, e in sorted(manifest.items()) if e.get("profile") == "cpu"]
    planned = [(name, recorded_train(name, store.entry(name))) for name in names]
    for name, train_args in planned:
        train_args.fresh, train_args.resume, train_args.run_dir = True, False, args.run_dir
        print(f"retraining {name}: {store.entry(name)['command']}", flush=True)
        _train(train_args, store)
    return 0


def _import(args) -> int:
    source = ArtifactStore(args.source, read_only=True)   # someone else's files: read, never repaired
    if not source.manifest_path.is_file():
        raise ArtifactError(f"{shown(source.manifest_path)} does not exist: {args.source} is not a store")
    store = ArtifactStore(args.store) if args.store else ArtifactStore()
    for name in args.names:   # every entry checked before anything is copied
        recorded_train(name, source.entry(name))
    for name in args.names:
        entry = store.copy_from(source, name)
        print(f"{name}: commit {entry.get('commit')}, {entry.get('wall_time_s')} s -> {shown(store.root / name)}")
    return 0


def _verify(store: ArtifactStore) -> int:
    report = store.verify()
    bad = [r for r in report if r[2]]
    for name, filename, error in report:
        where = f"{name}/{filename}" if filename else name
        print(f"{'FAIL' if error else 'ok  '} {where}" + (f": {error}" if error else ""))
    if not report:
        print(f"no artifacts in {shown(store.manifest_path)}")
        return 1
    print(f"{len(report) - len(bad)} of {len(report)} entries verified")
    return 1 if bad else 0


def _claims(as_json: bool, store: ArtifactStore) -> int:
    card = claims_mod.scorecard(store)
    if as_json:
        print(json.dumps([c.to_dict() for c in card], indent=1))
        return 0
    for c in card:
        ours = "—" if c.ours is None else f"{c.ours:.3g}"
        print(f"{c.id:<26} {c.profile:<6} {c.verdict:<15} ours {ours:<8} paper: {c.paper}")
    print(f"{len(card)} claims: " + ", ".join(f"{n} {v}" for v, n in claims_mod.tally(card).items()))
    return 0


def _fail(code: int, message: str) -> int:
    try:
        print(f"icl-book: error: {message}", file=sys.stderr)
    except OSError:  # stderr is closed too (icl-book list 2>&1 | head)
        pass
    return code


def _dispatch(args) -> int:
    if args.command == "train":
        return _train(args)
    if args.command == "import":
        return _import(args)
    if args.command == "sweep":
        return _sweep(args)
    store = ArtifactStore()
    if args.command == "list":
        return _list(store)
    if args.command == "retrain":
        return _retrain(args, store)
    if args.command == "verify":
        return _verify(store)
    return _claims(args.json, store)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
    except BadArguments as e:
        return _fail(2, str(e))
    training = args.command == "train"
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        try:  # nothing more can reach the reader; keep the exit flush quiet too
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return _fail(141, "the output was closed before it ended (broken pipe)")
    except ConfigError as e:
        return _fail(2, str(e))
    except ArtifactError as e:
        return _fail(3, str(e))
    except FloatingPointError as e:
        return _fail(4, str(e))
    except Busy as e:
        return _fail(6, str(e))
    except SweepFailed as e:
        return _fail(7, str(e))
    except NotWritable as e:   # found before training: nothing to resume
        return _fail(5, str(e))
    except OSError as e:
        then = f"; then {_next(args, _checkpoint(args))}" if training else ""
        if e.errno == errno.ENOSPC:
            where = f" writing {shown(e.filename)}" if e.filename else ""
            return _fail(5, f"the disk is full{where}; free some space{then}")
        where = f": {shown(e.filename)}" if e.filename else ""   # a read or a write: the error says which
        return _fail(5, f"{e.strerror or e}{where}{then}")
    except KeyboardInterrupt as e:
        if not training:
            return _fail(130, "interrupted")
        # Inside the training loop, the run names its own checkpoint; before it, only --resume had one.
        step = e.checkpoint if isinstance(e, Interrupted) else _checkpoint(args) if args.resume else None
        print(f"\nicl-book: interrupted; {_next(args, step)}", file=sys.stderr)
        return 130


def _checkpoint(args) -> int | None:
    return has_checkpoint(Path(args.run_dir) / _artifact_names(args)[0])


def _next(args, step: int | None) -> str:
    """How to go on with an unfinished training run: resume its checkpoint, or start again."""
    if step:
        return f"continue from its checkpoint at step {step} with: {_command(args, resume=True, everything=True)}"
    return f"no checkpoint yet; start again with: {_command(args, everything=True)}"


if __name__ == "__main__":
    sys.exit(main())
