"""The spin-glass chapter's long computations (Li, Bai & Huang, PRE 2025), as a results-only
experiment: ``icl-book train spinglass --profile cpu`` writes ``spinglass-cpu/results.json``.

Nothing here is a network that the chapter loads: the spin glass is solved exactly, by message
passing, and by full-batch Adam on the linear-attention weights, all in float64 on the CPU.
Three of the paper's figures take minutes, so they are computed once, stored with their
provenance like a trained model, and loaded by the chapter:

- the contrast-ratio heat map over ``(P, N)`` (Fig. 4a), with message passing on the same
  prompts at ``N = 100``;
- test error against the context length ``N`` at ``P = 10^4``: message passing, the exact
  Boltzmann mean and gradient training (Fig. 4b);
- the interpolation peak of gradient training without weight decay, against ``alpha = P / D^2``,
  for the merged and the separate model (Fig. S1a).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..analysis.spinglass import (GradientTrainingConfig, boltzmann_gaussian, contrast_ratio, contrast_ratio_grid,
                                  gram_prediction_error, gram_stats, message_passing, sampled_gram_stats,
                                  spin_glass_of, train_linear_attention, train_repeats, zero_mode_fraction)
from ..models.linear_attention import sample_prompts
from ..train import EVAL_STREAM, step_generator
from .base import Experiment, Profile

# The paper's alphas for Fig. S1a (fig-S1/data-a.py in its repository).
PAPER_ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2,
                1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0)


@dataclass(frozen=True)
class SpinGlassStudy:
    seed: int = 0
    beta: float = 100.0                    # inverse temperature of every experiment
    # contrast-ratio heat map (Fig. 4a)
    grid_d: int = 20
    grid_Ps: tuple[int, ...] = tuple(range(20, 1001, 20))
    grid_Ns: tuple[int, ...] = tuple(range(2, 101, 2))
    grid_lam0: float = 1.0
    grid_repeats: int = 10
    mp_row_Ps: tuple[int, ...] = (100, 200, 400, 600, 1000)   # message passing on the same prompts, N = max
    # test error against N (Fig. 4b): Adam lr 1e-3, weight decay 0.01, 5000 full-batch epochs
    curve_d: int = 20
    curve_P: int = 10_000
    curve_Ns: tuple[int, ...] = tuple(range(20, 201, 20))
    curve_lam0: float = 0.01
    curve_repeats: int = 50
    curve_lr: float = 1e-3
    curve_epochs: int = 5000
    curve_weight_decay: float = 0.01
    # interpolation peak (Fig. S1a): Adam lr 0.01, no weight decay, 3000 full-batch epochs
    peak_d: int = 20
    peak_N: int = 100
    peak_alphas: tuple[float, ...] = PAPER_ALPHAS
    peak_repeats: int = 50
    peak_lr: float = 0.01
    peak_epochs: int = 3000
    n_test: int = 1000                     # test prompts (fresh tasks) for every test error
    # few versus many tasks (Fig. 2): Adam lr 0.01, 300 full-batch epochs, no weight decay
    few_many_d: int = 10
    few_many_N: int = 100
    few_many_Ps: tuple[int, ...] = (10, 1000)
    few_many_seeds: int = 5
    # message-passing marginals (Fig. 2): P = 5000, lam0 = 0.01
    marginals_P: int = 5000
    marginals_lam0: float = 0.01
    # zero-mode fraction (Fig. S7): D = 20, N = 100, the paper's P values
    zero_mode_Ps: tuple[int, ...] = (25, 100, 250, 400, 450)

    def to_dict(self) -> dict:
        return asdict(self)


def _json(a: np.ndarray) -> list:
    """A nested list with None where ``a`` is NaN (JSON has no NaN)."""
    return np.where(np.isnan(a), None, a).tolist()


def _stats(values: np.ndarray) -> dict:
    """Mean and standard deviation over repeats (axis 0) of the finite values (None where
    there are none: message passing failed in every repeat), with the values themselves."""
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    var = np.where(finite, (values - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n, 1)
    return {"mean": _json(mean), "std": _json(np.where(n > 0, np.sqrt(var), np.nan)), "values": _json(values)}


def heat_map(s: SpinGlassStudy) -> dict:
    grid = contrast_ratio_grid(s.grid_d, s.grid_Ps, s.grid_Ns, lam0=s.grid_lam0, repeats=s.grid_repeats, seed=s.seed)
    # Message passing at the longest context, on the very prompts of the grid's repeats.
    mp = np.full((s.grid_repeats, len(s.mp_row_Ps)), np.nan)
    for r in range(s.grid_repeats):
        repeat = sample_prompts(max(s.grid_Ps), s.grid_d, max(s.grid_Ns), step_generator(s.seed, r))
        for j, P in enumerate(s.mp_row_Ps):
            res = message_passing(spin_glass_of(repeat.subset(P), s.grid_lam0), s.beta)
            if res.converged:
                mp[r, j] = float(contrast_ratio(res.mean_matrix()))
    return {"Ps": list(s.grid_Ps), "Ns": list(s.grid_Ns), "mean": grid.mean.tolist(), "std": grid.std.tolist(),
            "mp_row": {"Ps": list(s.mp_row_Ps), "N": max(s.grid_Ns), **_stats(mp),
                       "failed": np.isnan(mp).sum(axis=0).tolist()}}


def error_against_context(s: SpinGlassStudy) -> dict:
    """Message passing, the exact Boltzmann mean (lam0) and Adam with weight decay on the same
    P-prompt training sets, scored on one set of fresh test prompts per N."""
    R, K = s.curve_repeats, len(s.curve_Ns)
    mp, exact, sgd = np.full((R, K), np.nan), np.full((R, K), np.nan), np.full((R, K), np.nan)
    mp_sweeps = np.zeros((R, K), dtype=int)
    cfg = GradientTrainingConfig(lr=s.curve_lr, epochs=s.curve_epochs, weight_decay=s.curve_weight_decay)
    for k, N in enumerate(s.curve_Ns):
        train = sampled_gram_stats(s.curve_P, s.curve_d, N, [step_generator(s.seed, 1000 * k + r) for r in range(R)])
        test = sampled_gram_stats(s.n_test, s.curve_d, N, [step_generator(s.seed, k, EVAL_STREAM)])
        for r in range(R):
            sg = train.spin_glass(r, s.curve_lam0)
            res = message_passing(sg, s.beta)
            mp_sweeps[r, k] = res.iterations
            if res.converged:
                mp[r, k] = float(gram_prediction_error(res.mean_matrix(), test)[0])
            exact[r, k] = float(gram_prediction_error(boltzmann_gaussian(sg, s.beta).mean_matrix(), test)[0])
        trained = train_repeats(train, test, cfg, generator=torch.Generator().manual_seed(s.seed + k))
        sgd[:, k] = trained.test_loss.numpy()
    return {"Ns": list(s.curve_Ns), "P": s.curve_P, "message_passing": _stats(mp), "exact": _stats(exact),
            "gradient": _stats(sgd), "mp_failed": np.isnan(mp).sum(axis=0).tolist(),
            "mp_sweeps_max": int(mp_sweeps.max())}


def interpolation_peak(s: SpinGlassStudy) -> dict:
    """Test error of Adam without weight decay against alpha = P / D^2, merged and separate,
    each repeat on its own training set; one test set shared by all."""
    test = gram_stats([sample_prompts(s.n_test, s.peak_d, s.peak_N, step_generator(s.seed, 0, EVAL_STREAM))])
    cfg = GradientTrainingConfig(lr=s.peak_lr, epochs=s.peak_epochs)
    Ps = [int(a * s.peak_d ** 2) for a in s.peak_alphas]
    out = {"alphas": list(s.peak_alphas), "Ps": Ps, "d": s.peak_d, "N": s.peak_N,
           "predict_zero": float(test.c[0])}
    for merged in (True, False):
        losses = np.zeros((s.peak_repeats, len(Ps)))
        for k, P in enumerate(Ps):
            train = gram_stats([sample_prompts(P, s.peak_d, s.peak_N, step_generator(s.seed, 10_000 + 1000 * k + r))
                                for r in range(s.peak_repeats)])
            res = train_repeats(train, test, cfg, merged=merged, generator=torch.Generator().manual_seed(s.seed + k))
            losses[:, k] = res.test_loss.numpy()
        out["merged" if merged else "separate"] = _stats(losses)
    return out


def few_many_and_marginals(s: SpinGlassStudy) -> dict:
    """The chapter's cheap checks against the paper's numbers, stored so that claims can read
    them: few versus many tasks, the message-passing marginals, the zero-mode fractions.
    The chapter recomputes each of them on its own page and asserts that they agree."""
    d, N = s.few_many_d, s.few_many_N
    test = sample_prompts(s.n_test, d, N, step_generator(s.seed, 2))
    few_many = {}
    for P in s.few_many_Ps:
        runs = [train_linear_attention(sample_prompts(P, d, N, step_generator(s.seed, 10 + seed)), test,
                                       GradientTrainingConfig(), generator=torch.Generator().manual_seed(seed))
                for seed in range(s.few_many_seeds)]
        few_many[str(P)] = {"test_loss": [float(r.test_loss[-1]) for r in runs],
                            "contrast_ratio": [float(contrast_ratio(r.W)) for r in runs]}
    train = sample_prompts(s.marginals_P, d, N, step_generator(s.seed, 1))
    sg = spin_glass_of(train, s.marginals_lam0)
    mp, exact = message_passing(sg, s.beta), boltzmann_gaussian(sg, s.beta)
    m, v = mp.mean_matrix(), mp.var_matrix()
    off = m[:d, :d] - torch.diag(m.diagonal()[:d])
    draws = sample_prompts(max(s.zero_mode_Ps), s.grid_d, s.few_many_N, step_generator(s.seed, 3))
    return {"few_many": few_many, "predict_zero": float((test.y_query ** 2).mean()),
            "marginals": {"converged": mp.converged, "sweeps": mp.iterations,
                          "diag_mean": m.diagonal()[:d].tolist(), "exact_diag_mean": exact.mean_matrix().diagonal()[:d].tolist(),
                          "max_offdiag_mean": float(off.abs().max()), "diag_var": v.diagonal()[:d].tolist(),
                          "zero_mode_var": v[:, -1].tolist(), "one_over_beta_lam0": 1 / (s.beta * s.marginals_lam0),
                          "relative_bias": float((mp.mean - exact.mean).norm() / exact.mean.norm())},
            "zero_modes": {"d": s.grid_d, "Ps": list(s.zero_mode_Ps),
                           "fraction": [zero_mode_fraction(draws.subset(P).features()) for P in s.zero_mode_Ps]}}


def compute_spinglass(p: Profile) -> dict:
    s: SpinGlassStudy = p.task
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small solves: one thread each (see contrast_ratio_grid)
    try:
        out, wall = {}, {}
        for key, fn in (("checks", few_many_and_marginals), ("heat_map", heat_map),
                        ("error_against_context", error_against_context), ("interpolation", interpolation_peak)):
            t0 = time.perf_counter()
            out[key] = fn(s)
            wall[key] = round(time.perf_counter() - t0, 1)
        out["wall_time_s"] = wall
        return out
    finally:
        torch.set_num_threads(threads)


_CPU_ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5, 1.7, 2.0)


def _profiles() -> dict[str, Profile]:
    smoke = SpinGlassStudy(grid_d=4, grid_Ps=(10, 20, 40), grid_Ns=(4, 8), grid_repeats=2, mp_row_Ps=(20, 40),
                           curve_d=4, curve_P=200, curve_Ns=(10, 20), curve_repeats=2, curve_epochs=200,
                           peak_d=4, peak_N=10, peak_alphas=(0.5, 1.0, 2.0), peak_repeats=2, peak_epochs=200,
                           n_test=100, few_many_d=3, few_many_N=10, few_many_Ps=(5, 50), few_many_seeds=2,
                           marginals_P=100, zero_mode_Ps=(5, 30))
    cpu = SpinGlassStudy(curve_repeats=10, peak_alphas=_CPU_ALPHAS, peak_repeats=10)
    return {
        "smoke": Profile(smoke, None, None, note="tiny sizes, for the tests"),
        "cpu": Profile(cpu, None, None,
                       note="the paper's settings, with 10 repeats instead of 50 for the curves over N and "
                            f"alpha, and {len(_CPU_ALPHAS)} of the paper's {len(PAPER_ALPHAS)} values of alpha"),
        "paper": Profile(SpinGlassStudy(), None, None,
                         note="the paper's settings: 50 repeats of every curve, every alpha"),
    }


SPINGLASS = Experiment("spinglass", "spinglass",
                       "The spin glass of linear attention: heat map, error against N, interpolation peak "
                       "(Li, Bai & Huang 2025); computed, not trained", _profiles(), None, None,
                       compute=compute_spinglass)
