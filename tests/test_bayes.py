"""Task generators match their distributions; Bayes references match closed forms."""

import math

import pytest
import sympy as sp
import torch

from icl_book import bayes
from icl_book.tasks import LinearRegressionTask, predictions_at_x, to_sequence
from icl_book.seeding import step_generator


def test_generator_matches_its_distribution():
    task = LinearRegressionTask(d=4, n_points=6, noise_std=0.5)
    xs, ys, ws = task.sample(20000, torch.Generator().manual_seed(0))
    assert xs.shape == (20000, 6, 4) and ys.shape == (20000, 6) and ws.shape == (20000, 4)
    assert xs.mean().abs() < 0.01 and (xs.var() - 1).abs() < 0.01
    assert (ws.var(0) - 1).abs().max() < 0.05
    resid = ys - torch.einsum("bnd,bd->bn", xs, ws)
    assert (resid.std() - 0.5).abs() < 0.01          # the noise and nothing else
    assert (ys.var() - (4 + 0.25)).abs() < 0.1       # Var y = d tau^2 + sigma^2


def test_noiseless_labels_are_exactly_linear():
    task = LinearRegressionTask(d=3, n_points=5)
    xs, ys, ws = task.sample(8, torch.Generator().manual_seed(1))
    torch.testing.assert_close(ys, torch.einsum("bnd,bd->bn", xs, ws))


def test_finite_task_pool_draws_only_pool_members():
    task = LinearRegressionTask(d=3, n_points=4, n_tasks=3, pool_seed=7)
    _, _, ws = task.sample(300, torch.Generator().manual_seed(0))
    pool = task.task_pool()
    assert len(torch.unique(ws, dim=0)) == 3
    assert all(any(torch.equal(w, p) for p in pool) for w in ws)


def test_batches_depend_only_on_seed_and_step():
    task = LinearRegressionTask(d=3, n_points=4)
    a = task.sample(4, step_generator(5, 17))[0]
    b = task.sample(4, step_generator(5, 17))[0]
    c = task.sample(4, step_generator(5, 18))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, task.sample(4, step_generator(5, 17, stream=2))[0])


def test_sequence_encoding_round_trip():
    xs, ys = torch.randn(2, 3, 4), torch.randn(2, 3)
    seq = to_sequence(xs, ys)
    assert seq.shape == (2, 6, 5)
    torch.testing.assert_close(seq[:, 0::2, :4], xs)
    torch.testing.assert_close(seq[:, 1::2, 4], ys)
    assert (seq[:, 0::2, 4] == 0).all() and (seq[:, 1::2, :4] == 0).all()
    torch.testing.assert_close(predictions_at_x(seq), seq[:, 0::2, 0])


def test_ridge_is_the_gaussian_posterior_mean():
    """Conjugate Gaussian algebra: mean = (X^T X / s^2 + I / t^2)^-1 X^T y / s^2."""
    g = torch.Generator().manual_seed(0)
    xs, ys, xq = torch.randn(5, 7, 3, generator=g), torch.randn(5, 7, generator=g), torch.randn(5, 3, generator=g)
    s, t = 0.7, 1.3
    X, y = xs.double(), ys.double()
    precision = X.transpose(1, 2) @ X / s**2 + torch.eye(3, dtype=torch.float64) / t**2
    mean = torch.linalg.solve(precision, X.transpose(1, 2) @ y.unsqueeze(-1) / s**2)
    expected = (xq.double().unsqueeze(1) @ mean).reshape(-1)
    torch.testing.assert_close(bayes.bayes_posterior_mean(s, t)(xs, ys, xq), expected)


def test_ridge_formula_symbolically_in_one_dimension():
    x1, x2, y1, y2, s, t, q = sp.symbols("x1 x2 y1 y2 sigma tau q", positive=True)
    w = sp.symbols("w")
    log_post = -(y1 - w * x1) ** 2 / (2 * s**2) - (y2 - w * x2) ** 2 / (2 * s**2) - w**2 / (2 * t**2)
    w_map = sp.solve(sp.diff(log_post, w), w)[0]   # Gaussian posterior: mode = mean
    lam = s**2 / t**2
    ridge = (x1 * y1 + x2 * y2) / (x1**2 + x2**2 + lam)
    assert sp.simplify(w_map - ridge) == 0
    vals = {x1: 0.3, x2: -1.2, y1: 0.5, y2: 2.0, s: 0.6, t: 1.1, q: 0.8}
    pred = bayes.bayes_posterior_mean(0.6, 1.1)(torch.tensor([[[0.3], [-1.2]]]), torch.tensor([[0.5, 2.0]]),
                                               torch.tensor([[0.8]]))
    assert float(pred) == pytest.approx(float((ridge * q).subs(vals)), rel=1e-6)


@pytest.mark.parametrize("i", [0, 1, 3, 5, 7])
def test_min_norm_error_matches_its_closed_form(i):
    """With no noise the Bayes predictor's expected squared error after i examples is d - i."""
    d = 5
    task = LinearRegressionTask(d=d, n_points=i + 1)
    xs, ys, _ = task.sample(40000, torch.Generator().manual_seed(i))
    err = bayes.incontext_errors(bayes.least_squares, xs, ys)[:, i]
    expected = bayes.expected_bayes_error_noiseless(d, i)
    se = err.std() / math.sqrt(len(err))
    assert abs(err.mean() - expected) < 4 * se + 1e-9


def test_bayes_beats_every_baseline_on_average():
    task = LinearRegressionTask(d=4, n_points=10, noise_std=0.5)
    xs, ys, _ = task.sample(4000, torch.Generator().manual_seed(3))
    b = bayes.incontext_errors(bayes.bayes_posterior_mean(0.5), xs, ys).mean(0)
    for other in (bayes.least_squares, bayes.nearest_neighbours(3), bayes.averaging, bayes.prior_mean):
        assert (b <= bayes.incontext_errors(other, xs, ys).mean(0) + 0.05).all()


def test_nearest_neighbours_returns_the_closest_label():
    xs = torch.tensor([[[0.0], [1.0], [5.0]]])
    ys = torch.tensor([[10.0, 20.0, 30.0]])
    assert float(bayes.nearest_neighbours(1)(xs, ys, torch.tensor([[4.0]]))) == 30.0
    assert float(bayes.nearest_neighbours(2)(xs, ys, torch.tensor([[0.2]]))) == 15.0


def test_label_tokens_can_carry_their_input():
    xs, ys = torch.randn(2, 3, 4), torch.randn(2, 3)
    task = LinearRegressionTask(d=4, n_points=3, y_carries_x=True)
    seq = task.encode(xs, ys)
    torch.testing.assert_close(seq[:, 1::2, :4], xs)
    torch.testing.assert_close(seq[:, 1::2, 4], ys)
    assert (seq[:, 0::2, 4] == 0).all()   # an input token never shows its own label
