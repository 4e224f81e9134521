"""Does a retrieval circuit form? A quick probe, not an artifact.

    OMP_NUM_THREADS=1 python benchmarks/retrieval_probe.py --d 2 --q 8 --positions rotary

Trains the book's transformer on 1-sparse retrieval prompts (the basic format) with a plain
AdamW loop — linear warm-up over 100 steps, then a constant rate, no gradient clipping — and
prints the held-out accuracy at n = 0, 1, 2, 4 and the largest n every ``--every`` steps, beside
the exact Bayes predictor on the same prompts. ``--positions learned+rotary`` adds a learned
position embedding to a rotary model; ``--grow K`` trains with j* restricted to the first
1, 2, ... coordinates, one more every K steps (a curriculum over the hypothesis class).
The table in benchmarks/README.md was made with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from icl_book.bayes.retrieval import posterior
from icl_book.experiments.retrieval import RetrievalProblem, eval_set, query_logits
from icl_book.models import Transformer, TransformerConfig
from icl_book.tasks.retrieval import RetrievalTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--q", type=int, default=8)
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--positions", choices=["learned", "rotary", "learned+rotary"], default="rotary")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--grow", type=int, default=0, help="curriculum: one more candidate every GROW steps")
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    task = RetrievalTask(d=a.d, q=a.q, n_examples=a.examples)
    torch.manual_seed(a.seed)
    model = Transformer(TransformerConfig(vocab_size=task.vocab_size, n_ctx=task.seq_len, n_layer=a.layers,
                                          n_head=a.heads, d_model=a.width,
                                          positions="learned" if a.positions == "learned" else "rotary"))
    if a.positions == "learned+rotary":
        model.pos = torch.nn.Embedding(task.seq_len, a.width)
        torch.nn.init.normal_(model.pos.weight, std=0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    problem = RetrievalProblem(task)
    held_out = eval_set(task, 500)
    shown = [0, 1, 2, 4, task.n_examples]
    bayes = posterior(task, held_out.tokens, held_out.query).accuracy(held_out.labels).mean(0)
    print("n      ", shown, "\nBayes  ", np.round(bayes[shown], 2), flush=True)
    start = time.time()
    for step in range(a.steps + 1):
        if a.grow:
            problem.task = dataclasses.replace(task, candidates=min(task.d, 1 + step // a.grow))
        if step % a.every == 0:
            model.eval()
            acc = (query_logits(model, held_out).argmax(-1) == held_out.labels).mean(0)
            model.train()
            print(f"step {step:6d}  {time.time() - start:5.0f} s  model {np.round(acc[shown], 2)}", flush=True)
        for group in opt.param_groups:
            group["lr"] = a.lr * min(1.0, (step + 1) / 100)
        loss = problem.loss(model, problem.batch(step, a.batch, a.seed, torch.device("cpu")))
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
