"""How fast head-level importance runs: every head at once from one cached forward pass, against
the per-head loop (one forward pass per head, each recording only that head's output).

    python benchmarks/locate.py --out benchmarks/results/locate-cpu.json

The model is the ``classify-proportional`` cpu profile's architecture (3 layers x 4 heads, width
128; timing does not depend on the weights, so they are the seeded initial ones unless
``--artifact`` names a trained one). Both ways must agree (checked); each timing is the median of
``--repeats`` runs. The JSON holds the CPU, the thread count, the commit and the load average,
because a busy machine slows everything down.
"""

from __future__ import annotations

import argparse
import datetime
import os

import numpy as np
import torch

from icl_book import experiments
from icl_book.analysis.locate import head_importance_loop, importance
from common import median_time, write_result
from icl_book.provenance import cpu_name, git_commit


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--artifact", default=None, help="a trained artifact to time instead of initial weights")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    exp = experiments.get("classify-proportional")
    p = exp.profile("cpu")
    if args.artifact:
        from icl_book.store import ArtifactStore
        model = ArtifactStore().model(args.artifact)
    else:
        model = exp.build_model(p)
    model.eval()
    prompts = p.task.sample(args.prompts, 0)
    w, w2 = prompts.targets[:, -1], prompts.competing_label
    batched = importance(model, prompts.tokens, w, w2, chunk=args.prompts).head
    loop = head_importance_loop(model, prompts.tokens, w)
    gap = float(np.abs(batched - loop).max())
    assert gap < 1e-4, f"batched and per-head importance disagree by {gap}"
    t_batched = median_time(lambda: importance(model, prompts.tokens, w, w2, chunk=args.prompts), args.repeats, warmup=False)
    t_loop = median_time(lambda: head_importance_loop(model, prompts.tokens, w), args.repeats, warmup=False)
    t_sources = median_time(lambda: importance(model, prompts.tokens, w, w2, sources=True, chunk=250), args.repeats, warmup=False)
    result = {
        "prompts": args.prompts, "heads": model.cfg.n_layer * model.cfg.n_head,
        "batched_s": round(t_batched, 4), "per_head_loop_s": round(t_loop, 4),
        "ratio": round(t_loop / t_batched, 2), "with_sources_s": round(t_sources, 4), "max_gap": gap,
        "threads": torch.get_num_threads(), "cpu": cpu_name(), "load_average": os.getloadavg(),
        "commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    print(result)
    return write_result(result, args.out)


if __name__ == "__main__":
    main()
