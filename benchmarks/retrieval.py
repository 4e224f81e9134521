"""How fast the sparse-retrieval chapter's pieces run on this machine.

    python benchmarks/retrieval.py --out benchmarks/results/retrieval-cpu.json

1. the generator: prompts per second for the hardest format (preamble, ρ = 0.3, lengths 5–8);
2. the exact Bayes predictor over every segmentation: prompts per second on the same prompts,
   against the same forward algorithm run one prompt at a time (the vectorisation ratio);
3. training: optimiser steps and tokens per second of the ``cpu`` profile of ``--experiment``
   (default ``retrieval-d8q4``; the shared trainer's model and problem, fp32), eager and, when the
   profile asks for it, through ``torch.compile`` (the one-off compile time reported apart),
   after a few untimed warm-up steps.

Each timing is the median of ``--repeats`` runs; the JSON also holds the CPU, the thread count,
the commit and the load average, because a busy machine slows everything down.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import numpy as np
import torch

from icl_book import experiments
from common import median_time, write_result
from icl_book.provenance import cpu_name, git_commit
from icl_book.bayes.retrieval import posterior
from icl_book.tasks.retrieval import RetrievalTask


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--one-by-one", type=int, default=100, help="prompts for the unvectorised reference")
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--experiment", default="retrieval-d8q4", help="whose cpu profile to time in training")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()

    task = RetrievalTask(d=8, q=4, n_examples=12, preamble=8, rho=0.3, min_len=5)
    gen_s = median_time(lambda: task.sample(args.prompts, 0), args.repeats, warmup=False)
    p = task.sample(args.prompts, 0)
    bayes_s = median_time(lambda: posterior(task, p.tokens, p.query), args.repeats, warmup=False)
    k = args.one_by_one
    one_s = median_time(lambda: [posterior(task, p.tokens[i:i + 1], p.query[i:i + 1]) for i in range(k)], 1, warmup=False)

    exp = experiments.get(args.experiment)
    prof = exp.profile("cpu")
    model, problem = exp.build_model(prof), exp.problem(prof)
    opt = torch.optim.AdamW(model.parameters(), lr=prof.train.lr)

    def steps(forward_model, n):
        for s in range(n):
            loss = problem.loss(forward_model, problem.batch(s, prof.train.batch_size, 0, torch.device("cpu")))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def seconds_per_step(forward_model):
        steps(forward_model, 3)
        return median_time(lambda: steps(forward_model, args.train_steps), args.repeats, warmup=False) / args.train_steps

    eager_s = seconds_per_step(model)
    train_s, compile_s = eager_s, 0.0
    if prof.train.compile not in ("off", "auto"):
        compiled = torch.compile(model, mode=prof.train.compile)
        compile_s = median_time(lambda: steps(compiled, 1), 1, warmup=False)
        train_s = seconds_per_step(compiled)
    tokens_per_step = prof.train.batch_size * prof.task.seq_len
    result = {
        "generator_prompts_per_s": args.prompts / gen_s,
        "bayes_prompts_per_s": args.prompts / bayes_s,
        "bayes_one_by_one_prompts_per_s": k / one_s,
        "bayes_vectorisation_ratio": (args.prompts / bayes_s) / (k / one_s),
        "train_steps_per_s": 1 / train_s,
        "train_tokens_per_s": tokens_per_step / train_s,
        "train_eager_steps_per_s": 1 / eager_s,
        "train_compile_speedup": eager_s / train_s,
        "train_compile_s": compile_s,
        "train_config": {"experiment": args.experiment, "batch_size": prof.train.batch_size,
                         "compile": prof.train.compile,
                         "seq_len": prof.task.seq_len,
                         "params": sum(t.numel() for t in model.parameters())},
        "cpu_profile_minutes_estimate": (prof.train.steps * train_s + compile_s) / 60,
        "settings": {"task": task.to_dict(), "prompts": args.prompts, "repeats": args.repeats},
        "machine": {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(),
                    "load_before": load_before, "load_after": os.getloadavg()},
        "commit": git_commit(), "torch": torch.__version__, "numpy": np.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:34s} {value:,.1f}")
    return write_result(result, args.out)


if __name__ == "__main__":
    main()
