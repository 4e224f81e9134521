"""Several seeds side by side against one after another, through the book's training loop.

    OMP_NUM_THREADS=1 python benchmarks/seeds.py --experiment linreg --steps 100 --threads 1 \\
        --out benchmarks/results/seeds-linreg-cpu.json

Trains ``--seeds`` seeds of ``--experiment``'s ``--profile`` (default ``cpu``, shortened to
``--steps`` steps, no evaluation, no checkpoints but the last) twice: one seed after another
(``icl_book.train.train`` per seed) and side by side (``train_seeds``, the seeds' stacked parameters
under ``torch.func.vmap``). The two alternate for ``--repeats`` rounds, so background load hits
both alike; the speed-up is the ratio of the medians (and per round). It also reports how far the
side-by-side weights lie from the one-after-another ones (float tolerance, not bit equality).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from common import write_result
from icl_book import experiments
from icl_book.provenance import cpu_name, git_commit
from icl_book.train import can_stack, train, train_seeds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="linreg")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    exp = experiments.get(args.experiment)
    p = exp.profile(args.profile)
    cfg = dataclasses.replace(p.train, steps=args.steps, warmup_steps=min(p.train.warmup_steps, args.steps),
                              log_every=min(p.train.log_every, args.steps), eval_every=0, checkpoint_every=0)
    profiles = [dataclasses.replace(p, train=dataclasses.replace(cfg, seed=s)) for s in seeds]
    problem = exp.problem(p)
    if why := can_stack(exp.build_model(p)):
        raise SystemExit(f"{args.experiment}: {why}; side by side does not apply")
    load_before = os.getloadavg()

    def apart(root):
        return [train(exp.build_model(q), problem, q.train, root / f"a{q.train.seed}", progress=False) for q in profiles]

    def together(root):
        return train_seeds([exp.build_model(q) for q in profiles], problem, [q.train for q in profiles],
                           [root / f"t{q.train.seed}" for q in profiles], progress=False)

    times = {"apart": [], "together": []}
    last = {}
    for r in range(args.repeats):
        for name, fn in (("apart", apart), ("together", together)):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                last[name] = fn(Path(d))
                times[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}: one after another {times['apart'][-1]:.2f} s, side by side {times['together'][-1]:.2f} s",
              flush=True)
    diff = max((a - b).abs().max().item() for ra, rt in zip(last["apart"], last["together"])
               for a, b in zip(ra.model.state_dict().values(), rt.model.state_dict().values()))
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["apart"] / med["together"]
    per_round = [a / t for a, t in zip(times["apart"], times["together"])]
    steps_per_s = {k: len(seeds) * args.steps / v for k, v in med.items()}
    print(f"{args.experiment} {args.profile}, {len(seeds)} seeds x {args.steps} steps, {args.threads} thread(s): "
          f"one after another {med['apart']:.2f} s, side by side {med['together']:.2f} s -> speed-up {speedup:.2f}x "
          f"(per round {' '.join(f'{x:.2f}' for x in per_round)}); max |weight difference| {diff:.2e}")
    write_result({
        "benchmark": "seeds side by side", "experiment": args.experiment, "profile": args.profile, "seeds": seeds,
        "steps": args.steps, "batch_size": cfg.batch_size, "model": p.model.to_dict(),
        "params": sum(t.numel() for t in exp.build_model(p).parameters()), "threads": args.threads,
        "repeats": args.repeats, "seconds": times, "median_s": med, "seed_steps_per_s": steps_per_s,
        "speedup": speedup, "speedup_per_round": per_round, "max_weight_difference": diff,
        "cpu": cpu_name(), "torch": torch.__version__, "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_before": load_before, "load_after": os.getloadavg()}, args.out)


if __name__ == "__main__":
    main()
