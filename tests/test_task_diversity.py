"""The task-diversity references (dMMSE and ridge) against brute-force formulas, and the
task-diversity experiment end to end at smoke scale."""

import math

import numpy as np
import pytest
import torch

from icl_book import bayes, experiments
from icl_book.experiments.linreg import model_predictions
from icl_book.experiments.taskdiv import POOL_SIZES, pool_name
from icl_book.tasks import LinearRegressionTask


def _prompts(B, n, d, seed, noise=0.5, pool=None):
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    ws = pool[torch.randint(len(pool), (B,), generator=g)] if pool is not None else torch.randn(B, d, generator=g, dtype=f64)
    xs = torch.randn(B, n, d, generator=g, dtype=f64)
    ys = torch.einsum("bnd,bd->bn", xs, ws) + noise * torch.randn(B, n, generator=g, dtype=f64)
    return xs, ys, torch.randn(B, d, generator=g, dtype=f64)


def test_dmmse_is_the_posterior_mean_over_the_pool():
    """Brute force: the likelihood of every pool member as a product of Gaussian densities,
    normalised by hand, in plain Python floats."""
    sigma = 0.7
    pool = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xs, ys, xq = _prompts(6, 4, 3, 1, noise=sigma, pool=pool)
    got = bayes.dmmse(pool, sigma)(xs, ys, xq)
    for b in range(6):
        lik = [math.prod(math.exp(-(float(ys[b, j]) - float(pool[i] @ xs[b, j])) ** 2 / (2 * sigma ** 2))
                         / math.sqrt(2 * math.pi * sigma ** 2) for j in range(4)) for i in range(5)]
        post = [l / sum(lik) for l in lik]
        w_hat = sum(p * pool[i] for i, p in enumerate(post))
        assert float(got[b]) == pytest.approx(float(w_hat @ xq[b]), rel=1e-9, abs=1e-12)


def test_dmmse_limits():
    pool = torch.randn(4, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    xs, ys, xq = _prompts(5, 3, 2, 3)
    # No context: the prior mean of the pool. One member: that member, whatever the data.
    torch.testing.assert_close(bayes.dmmse(pool, 0.5)(xs[:, :0], ys[:, :0], xq), xq @ pool.mean(0))
    torch.testing.assert_close(bayes.dmmse(pool[:1], 0.5)(xs, ys, xq), xq @ pool[0])
    # Long noisy context from a pool member: the posterior concentrates on it.
    xs, ys, xq = _prompts(1, 200, 2, 4, noise=0.5, pool=pool[2:3])
    assert float(bayes.dmmse(pool, 0.5)(xs, ys, xq)[0]) == pytest.approx(float(xq[0] @ pool[2]), rel=1e-6)
    with pytest.raises(ValueError, match="noise_std > 0"):
        bayes.dmmse(pool, 0.0)


def test_ridge_is_the_gaussian_posterior_mean():
    """Brute force: condition the joint Gaussian of (w, y) on y, w_hat = X^T (X X^T + sigma^2 I)^-1 y."""
    sigma = 0.5
    xs, ys, xq = _prompts(4, 6, 3, 5, noise=sigma)
    got = bayes.bayes_posterior_mean(sigma)(xs, ys, xq)
    for b in range(4):
        X, y = xs[b].numpy(), ys[b].numpy()
        w_hat = X.T @ np.linalg.solve(X @ X.T + sigma ** 2 * np.eye(6), y)
        assert float(got[b]) == pytest.approx(float(w_hat @ xq[b].numpy()), rel=1e-9)


def test_dmmse_on_a_large_gaussian_pool_approaches_ridge():
    """A pool of many Gaussian tasks is a Monte Carlo sample of the prior: the two posterior
    means agree up to the sampling error."""
    sigma, d = 0.5, 2
    pool = torch.randn(40_000, d, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    xs, ys, xq = _prompts(20, 3, d, 7, noise=sigma)
    gap = bayes.dmmse(pool, sigma, chunk=4)(xs, ys, xq) - bayes.bayes_posterior_mean(sigma)(xs, ys, xq)
    assert float(gap.abs().max()) < 0.05
    small = bayes.dmmse(pool[:3], sigma)(xs, ys, xq) - bayes.bayes_posterior_mean(sigma)(xs, ys, xq)
    assert float(small.abs().max()) > 0.2          # and a small pool does not


def test_incontext_predictions_read_only_earlier_pairs():
    xs, ys, _ = _prompts(3, 5, 2, 8)
    preds = bayes.incontext_predictions(bayes.least_squares, xs, ys)
    assert preds.shape == (3, 5) and torch.all(preds[:, 0] == 0)
    changed = ys.clone(); changed[:, 3:] += 10.0                 # later labels must not matter
    torch.testing.assert_close(bayes.incontext_predictions(bayes.least_squares, xs, changed)[:, :4], preds[:, :4])


def test_each_pool_experiment_trains_on_its_pool_at_every_scale():
    """Every profile of taskdiv-mM draws its prompts' tasks from M weight vectors (any number with
    a fresh task a prompt), so the three scales study the same knob."""
    for M in POOL_SIZES:
        for profile in ("smoke", "cpu", "paper"):
            task = experiments.get(pool_name(M)).profile(profile).task
            _, _, ws = task.sample(512, torch.Generator().manual_seed(0))
            distinct = len(torch.unique(ws, dim=0))
            assert distinct <= M if M else distinct == 512, (M, profile, distinct)


def test_smoke_taskdiv_model_trains_and_round_trips(tmp_store, tmp_path):
    experiments.run("taskdiv-m4", "smoke", store=tmp_store, run_root=tmp_path, progress=False)
    res = tmp_store.results("taskdiv-m4-smoke")
    ev, task = res["evaluation"], LinearRegressionTask(**res["task"])
    prior = (task.d + task.noise_std ** 2) / task.d         # normalised error of predicting 0
    for where in ("pool", "fresh"):
        assert ev[where]["curves"]["transformer"]["mean"][-1] < 0.8 * prior, where
        assert set(ev[where]["distance_to"]) == {"ridge", "dmmse"}
    # On its own pool, dMMSE is Bayes: nothing beats it on average.
    assert ev["pool"]["curves"]["dmmse"]["mean"][-1] <= ev["pool"]["curves"]["ridge"]["mean"][-1]
    history = res["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    model = tmp_store.model("taskdiv-m4-smoke")
    xs, ys, _ = experiments.eval_prompts(task, 300)
    err = ((model_predictions(model, task, xs, ys) - ys.double()) ** 2).mean(0) / task.d
    np.testing.assert_allclose(err.numpy(), ev["pool"]["curves"]["transformer"]["mean"], rtol=1e-5)
