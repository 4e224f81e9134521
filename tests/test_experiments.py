"""Every trained profile of every experiment is runnable as written: its model builds, its problem
makes a batch that fits the model's context, and one backward pass gives a finite loss and finite
gradients. The paper profiles are meant for a GPU session with minutes of device time; a config
error there should cost a CPU second here instead."""

import math

import pytest
import torch

from icl_book import experiments
from icl_book.experiments.base import LanguageModelProblem

PROFILES = [(name, profile) for name, exp in experiments.EXPERIMENTS.items()
            for profile, prof in exp.profiles.items() if prof.train is not None]   # not the computed ones


@pytest.mark.parametrize("name, profile", PROFILES, ids=[f"{n}-{p}" for n, p in PROFILES])
def test_every_profile_builds_and_takes_a_step(name, profile):
    exp = experiments.get(name)
    prof = exp.profile(profile)
    torch.manual_seed(0)
    model = exp.build_model(prof)
    problem = exp.problem(prof)
    batch = problem.batch(0, 2, prof.train.seed, torch.device("cpu"))
    if isinstance(problem, LanguageModelProblem):
        tokens, targets = batch
        n_ctx = getattr(model.cfg, "n_ctx", None)          # an LSTM has no context limit
        assert n_ctx is None or tokens.shape[1] <= n_ctx, "blocks longer than the model's context"
        batch = tokens[:1, :64], targets[:1, :64]       # a GPT-2-sized model: one short block suffices
    loss = problem.loss(model, batch)
    assert loss.ndim == 0 and math.isfinite(loss.item())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
