"""Seconds per step of the book's training loop on one experiment's profile.

    OMP_NUM_THREADS=1 python benchmarks/train_step.py --experiment kernel-hmm --profile cpu --steps 150 \\
        --out benchmarks/results/train-step-kernel-hmm-cpu.json

Trains ``--experiment``'s ``--profile`` shortened to ``--steps`` steps (no evaluation, one checkpoint at
the end) ``--repeats`` times through ``icl_book.train.train``, and reports the median seconds per step
from the loop's own clock (``wall_time_s``: the steps, the logging and the final checkpoint; model
building and the problem's setup are outside it). It measures the whole loop, so a change to the loop
(the learning rate as a tensor, how batches reach the device) shows here.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import tempfile
from pathlib import Path

import torch

from common import write_result
from icl_book import experiments
from icl_book.provenance import cpu_name, git_commit
from icl_book.train import train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="kernel-hmm")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be >= 1")
    torch.set_num_threads(args.threads)
    exp = experiments.get(args.experiment)
    p = exp.profile(args.profile)
    cfg = dataclasses.replace(p.train, steps=args.steps, warmup_steps=min(p.train.warmup_steps, args.steps),
                              log_every=min(p.train.log_every, args.steps), eval_every=0, checkpoint_every=0)
    problem = exp.problem(p)
    load_before = os.getloadavg()
    per_step = []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            result = train(exp.build_model(p), problem, cfg, Path(d) / "run", device=args.device, progress=False)
        per_step.append(result.wall_time_s / args.steps)
        print(f"repeat {r + 1}: {per_step[-1] * 1e3:.1f} ms a step", flush=True)
    median = statistics.median(per_step)
    print(f"{args.experiment} {args.profile}, {args.steps} steps, {args.threads} thread(s) on {args.device}: "
          f"median {median * 1e3:.1f} ms a step ({' '.join(f'{x * 1e3:.1f}' for x in per_step)})")
    return write_result({
        "benchmark": "train step", "experiment": args.experiment, "profile": args.profile, "steps": args.steps,
        "batch_size": cfg.batch_size, "model": p.model.to_dict(), "threads": args.threads, "device": args.device,
        "repeats": args.repeats, "seconds_per_step": per_step, "median_seconds_per_step": median,
        "cpu": cpu_name(), "torch": torch.__version__, "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_before": load_before, "load_after": os.getloadavg()}, args.out)


if __name__ == "__main__":
    main()
