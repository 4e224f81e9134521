"""Lasso and OMP solve the objectives scikit-learn's solve: the same coefficients on the same
prompts, to the solvers' tolerances. scikit-learn is a test-only dependency."""

import numpy as np
import pytest
import torch

from icl_book.bayes.sparse import lasso, orthogonal_matching_pursuit

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def _problem(seed, B=12, i=9, d=10, s=3, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(B, i, d, generator=g, dtype=torch.float64)
    w = torch.zeros(B, d, dtype=torch.float64)
    for b in range(B):
        w[b, torch.randperm(d, generator=g)[:s]] = torch.randn(s, generator=g, dtype=torch.float64)
    ys = (xs @ w.unsqueeze(-1)).squeeze(-1) + noise * torch.randn(B, i, generator=g, dtype=torch.float64)
    return xs, ys


def _coefficients(predictor, xs, ys):
    """Read the fitted weights back through the predictor: w_j is the prediction at e_j."""
    d = xs.shape[-1]
    return torch.stack([predictor(xs, ys, torch.eye(d, dtype=torch.float64)[j].expand(len(xs), d))
                        for j in range(d)], dim=1).numpy()


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_lasso_matches_scikit_learn(alpha):
    xs, ys = _problem(0)
    ours = _coefficients(lasso(alpha, tol=1e-13), xs, ys)
    for b in range(len(xs)):
        ref = sklearn_linear.Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=200_000)
        ref.fit(xs[b].numpy(), ys[b].numpy())
        np.testing.assert_allclose(ours[b], ref.coef_, atol=1e-6)


def test_omp_matches_scikit_learn():
    xs, ys = _problem(1, i=12, noise=0.05)
    ours = _coefficients(orthogonal_matching_pursuit(3), xs, ys)
    for b in range(len(xs)):
        ref = sklearn_linear.OrthogonalMatchingPursuit(n_nonzero_coefs=3, fit_intercept=False)
        ref.fit(xs[b].numpy(), ys[b].numpy())
        np.testing.assert_allclose(ours[b], ref.coef_, atol=1e-9)


def test_omp_stops_once_the_labels_are_fitted():
    """With fewer examples than coordinates a prompt is fitted exactly after i picks: OMP stops
    there instead of adding coordinates that fit nothing."""
    xs, ys = _problem(2, i=2, noise=0.0)
    w = _coefficients(orthogonal_matching_pursuit(5), xs, ys)
    assert ((np.abs(w) > 1e-12).sum(1) <= 2).all()
    np.testing.assert_allclose(np.einsum("bid,bd->bi", xs.numpy(), w), ys.numpy(), atol=1e-9)


def test_lasso_says_when_it_did_not_converge():
    xs, ys = _problem(3)
    with pytest.raises(RuntimeError, match="did not reach"):
        lasso(0.01, tol=1e-30, max_iter=50)(xs, ys, xs[:, 0])
