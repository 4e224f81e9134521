"""``icl-book``: list experiments and artifacts, train, verify the store, print the scorecard.

    icl-book list
    icl-book train linreg --profile cpu [--device cpu|cuda] [--resume | --fresh] [--set lr=3e-4]
    icl-book verify
    icl-book claims [--json]

Bad arguments exit with status 2 and one line that says why.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from . import claims as claims_mod
from . import experiments
from .store import ArtifactError, ArtifactStore
from .train import ConfigError, has_checkpoint


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"icl-book: error: {message}\n")


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
                   help="override a training config field, e.g. --set lr=3e-4 (repeatable)")
    t.add_argument("--run-dir", default="runs", help="where checkpoints go (default: runs/)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("verify", help="check every artifact against the manifest; exit 0 only if all pass")
    c = sub.add_parser("claims", help="the scorecard: our value, the paper's, the verdict")
    c.add_argument("--json", action="store_true")
    return p


def _list(store: ArtifactStore) -> int:
    names = set(store.names())
    for exp in experiments.EXPERIMENTS.values():
        print(f"{exp.name}  ({exp.chapter})  {exp.summary}")
        for profile in exp.profiles:
            art = experiments.artifact_name(exp.name, profile)
            state = "shipped" if art in names else "not trained"
            print(f"  {profile:<6} {art:<20} {state}")
    return 0


def _train(args, argv: list[str], store: ArtifactStore) -> int:
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes FIELD=VALUE, got {item!r}")
        overrides[key] = value
    entry = experiments.run(args.experiment, args.profile, device=args.device, resume=args.resume,
                            fresh=args.fresh, overrides=overrides, store=store, run_root=args.run_dir,
                            progress=not args.quiet,
                            command="icl-book " + " ".join(shlex.quote(a) for a in argv))
    name = experiments.artifact_name(args.experiment, args.profile)
    print(f"stored {name} in {store.root} ({entry['wall_time_s']} s on {entry['device']})")
    return 0


def _verify(store: ArtifactStore) -> int:
    report = store.verify()
    bad = [r for r in report if r[2]]
    for name, filename, error in report:
        print(f"{'FAIL' if error else 'ok  '} {name}/{filename}" + (f": {error}" if error else ""))
    if not report:
        print(f"no artifacts in {store.manifest_path}")
        return 1
    print(f"{len(report) - len(bad)} of {len(report)} files verified")
    return 1 if bad else 0


def _claims(as_json: bool, store: ArtifactStore) -> int:
    card = claims_mod.scorecard(store)
    if as_json:
        print(json.dumps([c.to_dict() for c in card], indent=1))
        return 0
    for c in card:
        ours = "—" if c.ours is None else f"{c.ours:.3g}"
        print(f"{c.id:<26} {c.profile:<6} {c.verdict:<15} ours {ours:<8} paper: {c.paper}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        store = ArtifactStore()
        if args.command == "list":
            return _list(store)
        if args.command == "train":
            return _train(args, argv, store)
        if args.command == "verify":
            return _verify(store)
        return _claims(args.json, store)
    except (ConfigError, ArtifactError) as e:
        print(f"icl-book: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command != "train":
            raise
        run_dir = f"{args.run_dir}/{experiments.artifact_name(args.experiment, args.profile)}"
        step = has_checkpoint(run_dir)
        where = f"its checkpoint at step {step}" if step else "the start (no checkpoint yet)"
        print(f"\nicl-book: interrupted; continue from {where} with: icl-book train {args.experiment} "
              f"--profile {args.profile} --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
