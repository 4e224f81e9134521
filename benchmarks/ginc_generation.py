"""How long GINC takes to make: the paper-size pretraining corpus, the prompt sets, and the exact
Bayes predictive on the longest prompts.

    python benchmarks/ginc_generation.py --out benchmarks/results/ginc-generation-cpu.json
    python benchmarks/ginc_generation.py --released-code --vocab 100

Three timings, each after a small untimed warm-up, each the median of ``--repeats`` runs:

1. ``pretraining_tokens`` for 1000 documents x 10,240 tokens (10.24 M tokens);
2. ``make_prompts`` for 2500 prompts at every (k, n), k in {3, 5, 8, 10},
   n in {0, 1, 2, 4, 8, 16, 32, 64} (labels included: they need a forward pass per prompt);
3. ``pretraining_predictive`` on 2500 prompts at k = 10, n = 64 (713 tokens each).

Everything is numpy on the CPU. The JSON holds the timings, the settings, numpy / Python
versions, the CPU, the git commit, the date and the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import write_result
from icl_book.provenance import cpu_name, git_commit
from icl_book.bayes.hmm import pretraining_predictive
from icl_book.tasks.ginc import GINCConfig, build_hmms, make_prompts, pretraining_tokens

KS = (3, 5, 8, 10)
NS = (0, 1, 2, 4, 8, 16, 32, 64)


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times




def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=50, help="V, the number of symbols")
    ap.add_argument("--released-code", action="store_true", help="R = 10 permutations (default: R = 100)")
    ap.add_argument("--n-docs", type=int, default=1000)
    ap.add_argument("--doc-len", type=int, default=10240)
    ap.add_argument("--n-prompts", type=int, default=2500)
    ap.add_argument("--epsilon", type=float, default=None,
                    help="transition smoothing for the Bayes timing (default: 0, or 1e-3 with --released-code)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    cfg = (GINCConfig.released_code if args.released_code else GINCConfig)(vocab_size=args.vocab)
    epsilon = args.epsilon if args.epsilon is not None else (1e-3 if args.released_code else 0.0)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    ginc = build_hmms(cfg)
    build_s = time.perf_counter() - t0

    # warm-up: small versions of each call, untimed
    pretraining_tokens(ginc, 8, 256, seed=0)
    warm = make_prompts(ginc, 10, 4, 16, seed=0)
    pretraining_predictive(ginc, warm.tokens, epsilon=epsilon)

    n_tok = args.n_docs * args.doc_len
    corpus_s, corpus_all = timed(lambda: pretraining_tokens(ginc, args.n_docs, args.doc_len, seed=1), args.repeats)
    print(f"corpus  {args.n_docs} x {args.doc_len} = {n_tok / 1e6:.2f} M tokens: {corpus_s:.2f} s "
          f"({n_tok / corpus_s / 1e6:.2f} M tokens/s)")

    prompt_rows = []
    for k in KS:
        for n in NS:
            med, _ = timed(lambda: make_prompts(ginc, k, n, args.n_prompts, seed=2), args.repeats)
            L = n * (k + 1) + k - 1
            prompt_rows.append(dict(k=k, n=n, length=L, seconds=med, tokens_per_s=args.n_prompts * L / med))
    prompts_s = sum(r["seconds"] for r in prompt_rows)
    prompt_tok = sum(args.n_prompts * r["length"] for r in prompt_rows)
    print(f"prompts {len(prompt_rows)} sets x {args.n_prompts}: {prompts_s:.2f} s in all "
          f"({prompt_tok / prompts_s / 1e6:.2f} M tokens/s); slowest set "
          f"{max(r['seconds'] for r in prompt_rows):.3f} s")
    for k in KS:
        row = [r for r in prompt_rows if r["k"] == k]
        print(f"  k={k:2d}: " + "  ".join(f"n={r['n']}:{r['seconds'] * 1e3:.0f}ms" for r in row))

    longest = make_prompts(ginc, 10, 64, args.n_prompts, seed=3)
    bayes_s, bayes_all = timed(lambda: pretraining_predictive(ginc, longest.tokens, epsilon=epsilon), args.repeats)
    pred = pretraining_predictive(ginc, longest.tokens, epsilon=epsilon)
    bayes_tok = longest.tokens.size
    print(f"bayes   {args.n_prompts} prompts x {longest.tokens.shape[1]} tokens (k=10, n=64, eps={epsilon}): "
          f"{bayes_s:.2f} s ({bayes_tok / bayes_s / 1e3:.0f} k tokens/s), accuracy {pred.accuracy(longest.labels):.3f}")

    result = dict(
        config=cfg.to_dict(), epsilon=epsilon, build_hmms_s=build_s,
        corpus=dict(n_docs=args.n_docs, doc_len=args.doc_len, tokens=n_tok, seconds=corpus_s,
                    seconds_all=corpus_all, tokens_per_s=n_tok / corpus_s),
        prompts=dict(n_prompts=args.n_prompts, seconds_total=prompts_s, tokens_per_s=prompt_tok / prompts_s,
                     sets=prompt_rows),
        bayes=dict(k=10, n=64, n_prompts=args.n_prompts, length=int(longest.tokens.shape[1]), seconds=bayes_s,
                   seconds_all=bayes_all, tokens_per_s=bayes_tok / bayes_s,
                   accuracy=pred.accuracy(longest.labels)),
        repeats=args.repeats, device="cpu", cpu=cpu_name(), cpu_count=os.cpu_count(),
        numpy=np.__version__, python=platform.python_version(), git_commit=git_commit(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        loadavg_before=load_before, loadavg_after=os.getloadavg(),
    )
    return write_result(result, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
