"""One process of a data-parallel smoke run, started by tests/test_ddp.py under torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py RUN_DIR STEPS STOP_AFTER

trains the linreg smoke model through ``icl_book.train.train`` (gloo) and stops after STOP_AFTER
steps (0: never), as an interruption would, leaving rank 0's checkpoint in RUN_DIR.
"""

import dataclasses
import sys

import torch
import torch.distributed as dist

from icl_book import experiments
from icl_book.train import train


def config(steps: int):
    exp = experiments.get("linreg")
    p = exp.profile("smoke")
    return exp, p, dataclasses.replace(p.train, steps=steps, log_every=5, checkpoint_every=5, warmup_steps=2)


def main(run_dir: str, steps: int, stop_after: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        exp, p, cfg = config(steps)
        train(exp.build_model(p), exp.problem(p), cfg, run_dir, progress=False, stop_after=stop_after or None)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
