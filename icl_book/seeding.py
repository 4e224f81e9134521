"""Seed streams: every random number a run draws is a function of (seed, step, stream), so the data,
the dropout noise and the evaluation prompts are separate, reproducible streams, and a resumed
run draws exactly what an uninterrupted one would have."""

from __future__ import annotations

import numpy as np
import torch

MAX_SEED = 2**63 - 1  # a seed is a signed 64-bit integer wherever it goes (torch.manual_seed, SeedSequence)

DATA_STREAM, DROPOUT_STREAM, EVAL_STREAM = 0, 1, 2


def seed_for(seed: int, step: int, stream: int = DATA_STREAM) -> int:
    """A 63-bit seed that depends only on (seed, step, stream): data, dropout and evaluation
    draw from separate streams, so evaluation prompts never coincide with training ones."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def step_generator(seed: int, step: int, stream: int = DATA_STREAM) -> torch.Generator:
    """A CPU torch generator seeded by ``seed_for(seed, step, stream)``."""
    return torch.Generator().manual_seed(seed_for(seed, step, stream))
