"""Does a retrieval circuit form? A quick probe, not an artifact.

    OMP_NUM_THREADS=1 python benchmarks/retrieval_probe.py --d 2 --q 8 --positions rotary

Trains the book's transformer on 1-sparse retrieval prompts (the basic format; ``--sparsity s``:
the tokenised s-sparse task) with the shared
trainer — linear warm-up over 100 steps, then a constant rate, no gradient clipping (the recipe
of ``retrieval-d4q4``) — and prints the held-out accuracy at n = 0, 1, 2, 4 and the largest n
every ``--every`` steps, beside the exact Bayes predictor on the same prompts.
``--positions learned+rotary`` adds a learned position embedding to a rotary model; ``--grow K``
trains with j* restricted to the first 1, 2, ... coordinates, one more every K steps (a
curriculum over the hypothesis class). The tables in benchmarks/README.md were made with an
earlier version that ran the same update in a loop of its own (commit dbada0f).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import torch

from icl_book.bayes.retrieval import argmax_accuracy, posterior, subset_predictive
from icl_book.experiments.retrieval import RetrievalProblem, eval_set, query_logits
from icl_book.models import Transformer, TransformerConfig
from icl_book.tasks.retrieval import RetrievalTask
from icl_book.train import TrainConfig, train


class GrowingClass(RetrievalProblem):
    """Retrieval prompts whose hypothesis class grows by one coordinate every ``every`` steps."""

    def __init__(self, task: RetrievalTask, every: int):
        super().__init__(task)
        self.full, self.every = task, every

    def batch(self, step, batch_size, seed, device):
        self.task = dataclasses.replace(self.full, candidates=min(self.full.d, 1 + step // self.every))
        return super().batch(step, batch_size, seed, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--q", type=int, default=8)
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--sparsity", type=int, default=1, help="s: the label is the sum of s hidden coordinates, mod q")
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

    task = RetrievalTask(d=a.d, q=a.q, n_examples=a.examples, sparsity=a.sparsity)
    torch.manual_seed(a.seed)
    model = Transformer(TransformerConfig(vocab_size=task.vocab_size, n_ctx=task.seq_len, n_layer=a.layers,
                                          n_head=a.heads, d_model=a.width,
                                          positions="learned" if a.positions == "learned" else "rotary"))
    if a.positions == "learned+rotary":
        model.pos = torch.nn.Embedding(task.seq_len, a.width)
        torch.nn.init.normal_(model.pos.weight, std=0.02)
    problem = GrowingClass(task, a.grow) if a.grow else RetrievalProblem(task)
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch, lr=a.lr, warmup_steps=100, schedule="constant",
                      grad_clip=0.0, seed=a.seed, log_every=a.every, eval_every=a.every, checkpoint_every=0)
    held_out = eval_set(task, 500)
    shown = [0, 1, 2, 4, task.n_examples]
    if task.sparsity == 1:
        bayes = posterior(task, held_out.tokens, held_out.query).accuracy(held_out.labels).mean(0)
    else:
        bayes = argmax_accuracy(subset_predictive(task, held_out)[0], held_out.labels).mean(0)
    print("n      ", shown, "\nBayes  ", np.round(bayes[shown], 2), flush=True)
    start, evals = time.time(), iter([*range(a.every, a.steps, a.every), a.steps])   # the trainer's eval steps

    def report(m) -> dict:
        acc = (query_logits(m, held_out).argmax(-1) == held_out.labels).mean(0)
        print(f"step {next(evals):6d}  {time.time() - start:5.0f} s  model {np.round(acc[shown], 2)}", flush=True)
        return {"accuracy": acc.tolist()}

    with tempfile.TemporaryDirectory() as run_dir:
        train(model, problem, cfg, run_dir, progress=False, evaluate=report)


if __name__ == "__main__":
    main()
