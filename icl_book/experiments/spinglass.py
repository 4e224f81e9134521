"""The spin-glass chapter's long computations (Li, Bai & Huang, PRE 2025), as a results-only
experiment: ``icl-book train spinglass --profile cpu`` writes ``spinglass-cpu/results.json``.

Nothing here is a network that the chapter loads: the spin glass is solved exactly, by message
passing, and by full-batch Adam on the linear-attention weights, all in float64 on the CPU.
Three of the paper's figures take minutes, so they are computed once, stored with their
provenance like a trained model, and loaded by the chapter:

- the contrast-ratio heat map over ``(P, N)`` (Fig. 4a), with message passing on the same
  prompts at ``N = 100``, both the book's solver and the official script's procedure (random
  start, 100 sweeps, the mean over the runs that pass);
- test error against the context length ``N`` at ``P = 10^4``: message passing, the exact
  Boltzmann mean and gradient training (Fig. 4b);
- the interpolation peak of gradient training without weight decay, against ``alpha = P / D^2``,
  for the merged and the separate model (Fig. S1a).

Every test error is the closed-form expected error of the weights (``expected_test_error``);
the error on a finite test set is stored beside it (``sampled``) as its Monte Carlo check.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch

from ..analysis.spinglass import (contrast_ratio, expected_test_error, gram_prediction_error, ideal_weights,
                                  zero_mode_fraction)
from ..bayes.spinglass import (boltzmann_gaussian, message_passing, message_passing_as_published, nested_ridge_means,
                               spin_glass_of, spin_glass_of_gram)
from ..models.linear_attention import SoftmaxAttentionRegressor, gram_stats, sample_prompts, sampled_gram_stats
from ..seeding import EVAL_STREAM, step_generator
from ..train import to_device
from ..train_linear_attention import GradientTrainingConfig, train_linear_attention, train_repeats
from .base import Experiment, Profile

# The random starts of the published message-passing procedure: a stream of their own, so they
# never coincide with a draw of prompts (streams 0-2 are the training loop's).
START_STREAM = 3


@contextmanager
def torch_threads(n: int):
    """Run the block on ``n`` intra-op torch threads and restore the caller's count after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- the contrast-ratio heat map: the grid driver ------------------------------------------------

@dataclass(frozen=True)
class ContrastRatioGrid:
    Ps: tuple[int, ...]     # numbers of pretraining prompts (columns)
    Ns: tuple[int, ...]     # context lengths (rows)
    values: torch.Tensor    # [repeats, len(Ns), len(Ps)] contrast ratio of the exact Boltzmann mean

    @property
    def mean(self) -> torch.Tensor:
        return self.values.mean(dim=0)

    @property
    def std(self) -> torch.Tensor:
        return self.values.std(dim=0)


def _checked_sizes(name: str, values) -> tuple[int, ...]:
    values = list(values)
    out = tuple(int(v) for v in values)
    if not out or any(v < 1 or v != x for v, x in zip(out, values)):
        raise ValueError(f"contrast_ratio_grid: {name} must be non-empty positive integers, got {values!r}")
    return out


def _grid_repeat(d: int, P_sorted: list[int], Ns: tuple[int, ...], lam0: float, seed: int, r: int) -> torch.Tensor:
    """The contrast ratios ``[len(Ns), len(P_sorted)]`` of one repeat of the grid."""
    pr = sample_prompts(P_sorted[-1], d, max(Ns), step_generator(seed, r))
    yx = torch.cumsum(pr.ys.unsqueeze(-1) * pr.xs, dim=1)   # sum_{i<=k} y_i x_i   [P, N, D]
    yy = torch.cumsum(pr.ys ** 2, dim=1)                      # sum_{i<=k} y_i^2     [P, N]
    out = torch.empty(len(Ns), len(P_sorted), dtype=torch.float64)
    for i, N in enumerate(Ns):
        label_row = torch.cat([yx[:, N - 1], yy[:, N - 1, None]], dim=1) / (N + 1)   # (Z Z^T)[D, :] / (N + 1)
        m = nested_ridge_means(label_row, pr.x_query, pr.y_query, P_sorted, lam0).reshape(-1, d + 1, d)
        trace = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)  # the zero column adds nothing
        out[i] = trace / (torch.linalg.matrix_norm(m) * math.sqrt(d + 1))
    return out


def contrast_ratio_grid(d: int, Ps, Ns, lam0: float = 1.0, repeats: int = 10, seed: int = 0,
                        workers: int = 2) -> ContrastRatioGrid:
    """The contrast ratio of the Boltzmann mean (the ridge solution ``A^-1 h``, exact, float64)
    on a grid of pretraining set sizes ``Ps`` and context lengths ``Ns``.

    Each repeat draws one set of ``max(Ps)`` prompts with ``max(Ns)`` examples each (from
    ``step_generator(seed, repeat)``); the grid point ``(P, N)`` uses its first ``P`` prompts,
    each cut to its first ``N`` examples, so it equals ``boltzmann_gaussian`` on
    ``prompts.subset(P, N)``. Nesting keeps the cost down: the features for every ``N`` come
    from running sums over the examples, the Gram matrices for every ``P`` from running sums
    over the prompts. Within a repeat the grid points share data (common random numbers),
    which makes the heat map smoother than independent draws would; each point on its own
    has the right distribution.

    Only the first ``D`` columns of ``W`` enter the solve: the last column is decoupled
    (``A = lam0 I`` there and ``h = 0``), so its mean is exactly zero.

    The repeats run ``workers`` at a time in threads, each on one intra-op torch thread
    (torch's thread count is set to 1 for the call and restored afterwards; the result does
    not depend on it). The ``(D + 1) D``-sized factorisations gain little from a second
    thread, so two repeats side by side beat one repeat on two threads; and on a machine
    busy with other work, two-thread OpenMP kernels were measured 4-20x slower here than
    one-thread ones, because their threads wait for each other at every small operation."""
    Ps, Ns = _checked_sizes("Ps", Ps), _checked_sizes("Ns", Ns)
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"contrast_ratio_grid: d must be a positive integer, got {d!r}")
    if not lam0 > 0:
        raise ValueError(f"contrast_ratio_grid needs lam0 > 0 (the Gaussian is improper otherwise), got {lam0}")
    for name, value in (("repeats", repeats), ("workers", workers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"contrast_ratio_grid: {name} must be a positive integer, got {value!r}")
    P_sorted = sorted(set(Ps))
    P_col = [P_sorted.index(P) for P in Ps]
    run = partial(_grid_repeat, d, P_sorted, Ns, lam0, seed)
    with torch_threads(1):
        if workers == 1:
            per_repeat = [run(r) for r in range(repeats)]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                per_repeat = list(pool.map(run, range(repeats)))
    values = torch.stack(per_repeat)[:, :, P_col]
    return ContrastRatioGrid(Ps=Ps, Ns=Ns, values=values)


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
    """The contrast-ratio grid of the exact Boltzmann mean, and on its row at the longest context,
    on the very prompts of each repeat, two message-passing runs: the book's solver
    (``message_passing``: a fixed start, a sweep cap of 20,000, every change below 1e-6) and the
    official script's procedure (``message_passing_as_published``: a random ``N(0, 1)`` start,
    100 sweeps, the mean over the runs that pass its test). Failures are NaN in ``values`` and
    counted; every mean is over the runs that survive."""
    grid = contrast_ratio_grid(s.grid_d, s.grid_Ps, s.grid_Ns, lam0=s.grid_lam0, repeats=s.grid_repeats, seed=s.seed)
    R, K = s.grid_repeats, len(s.mp_row_Ps)
    mp, pub = np.full((R, K), np.nan), np.full((R, K), np.nan)
    mp_sweeps, pub_sweeps = np.zeros((R, K), dtype=int), np.zeros((R, K), dtype=int)
    for r in range(R):
        repeat = sample_prompts(max(s.grid_Ps), s.grid_d, max(s.grid_Ns), step_generator(s.seed, r))
        for j, P in enumerate(s.mp_row_Ps):
            sg = spin_glass_of(repeat.subset(P), s.grid_lam0)
            res = message_passing(sg, s.beta)
            mp_sweeps[r, j] = res.iterations
            if res.converged:
                mp[r, j] = float(contrast_ratio(res.mean_matrix()))
            run = message_passing_as_published(sg, s.beta, generator=step_generator(s.seed, r * K + j, START_STREAM))
            pub_sweeps[r, j] = run.iterations
            if run.converged:
                pub[r, j] = float(contrast_ratio(run.mean_matrix()))
    row = {"Ps": list(s.mp_row_Ps), "N": max(s.grid_Ns)}
    return {"Ps": list(s.grid_Ps), "Ns": list(s.grid_Ns), "mean": grid.mean.tolist(), "std": grid.std.tolist(),
            "mp_row": {**row, **_stats(mp), "failed": np.isnan(mp).sum(axis=0).tolist(), "sweeps": mp_sweeps.tolist()},
            "published_row": {**row, **_stats(pub), "survived": np.isfinite(pub).sum(axis=0).tolist(),
                              "sweeps": pub_sweeps.tolist(), "max_sweeps": 100}}


def error_against_context(s: SpinGlassStudy) -> dict:
    """Message passing, the exact Boltzmann mean (lam0) and Adam with weight decay on the same
    P-prompt training sets. Each solution is scored twice: by its expected test error (the closed
    form ``expected_test_error``, exact) and on one set of fresh test prompts per N (``sampled``, a
    Monte Carlo estimate of the same number). ``ideal`` is the closed-form error of Zhang, Frei &
    Bartlett's ideal W; the Bayes error is 0 at every N here (N >= D, no label noise)."""
    R, K = s.curve_repeats, len(s.curve_Ns)
    names = ("message_passing", "exact", "gradient")
    expected = {k: np.full((R, K), np.nan) for k in names}
    sampled = {k: np.full((R, K), np.nan) for k in names}
    mp_sweeps = np.zeros((R, K), dtype=int)
    cfg = GradientTrainingConfig(lr=s.curve_lr, epochs=s.curve_epochs, weight_decay=s.curve_weight_decay)
    for k, N in enumerate(s.curve_Ns):
        train = sampled_gram_stats(s.curve_P, s.curve_d, N, [step_generator(s.seed, 1000 * k + r) for r in range(R)])
        test = sampled_gram_stats(s.n_test, s.curve_d, N, [step_generator(s.seed, k, EVAL_STREAM)])
        for r in range(R):
            sg = spin_glass_of_gram(train, r, s.curve_lam0)
            res = message_passing(sg, s.beta)
            mp_sweeps[r, k] = res.iterations
            solutions = {"exact": boltzmann_gaussian(sg, s.beta).mean_matrix()}
            if res.converged:
                solutions["message_passing"] = res.mean_matrix()
            for name, W in solutions.items():
                expected[name][r, k] = float(expected_test_error(W, N))
                sampled[name][r, k] = float(gram_prediction_error(W, test)[0])
        trained = train_repeats(train, test, cfg, generator=torch.Generator().manual_seed(s.seed + k))
        expected["gradient"][:, k] = expected_test_error(trained.W, N).numpy()
        sampled["gradient"][:, k] = trained.test_loss.numpy()
    return {"Ns": list(s.curve_Ns), "P": s.curve_P, **{k: _stats(expected[k]) for k in names},
            "sampled": {k: _stats(sampled[k]) for k in names},
            "ideal": [float(expected_test_error(ideal_weights(s.curve_d, N), N)) for N in s.curve_Ns],
            "mp_failed": np.isnan(expected["message_passing"]).sum(axis=0).tolist(),
            "mp_sweeps_max": int(mp_sweeps.max())}


def interpolation_peak(s: SpinGlassStudy) -> dict:
    """Test error of Adam without weight decay against alpha = P / D^2, merged and separate,
    each repeat on its own training set: the expected error (closed form; predicting 0 scores
    exactly 1), and under ``sampled`` the error on one test set shared by all."""
    test = gram_stats([sample_prompts(s.n_test, s.peak_d, s.peak_N, step_generator(s.seed, 0, EVAL_STREAM))])
    cfg = GradientTrainingConfig(lr=s.peak_lr, epochs=s.peak_epochs)
    Ps = [int(a * s.peak_d ** 2) for a in s.peak_alphas]
    out = {"alphas": list(s.peak_alphas), "Ps": Ps, "d": s.peak_d, "N": s.peak_N,
           "predict_zero": 1.0, "sampled": {"predict_zero": float(test.c[0])}}
    for merged in (True, False):
        losses, sampled = np.zeros((s.peak_repeats, len(Ps))), np.zeros((s.peak_repeats, len(Ps)))
        for k, P in enumerate(Ps):
            train = gram_stats([sample_prompts(P, s.peak_d, s.peak_N, step_generator(s.seed, 10_000 + 1000 * k + r))
                                for r in range(s.peak_repeats)])
            res = train_repeats(train, test, cfg, merged=merged, generator=torch.Generator().manual_seed(s.seed + k))
            losses[:, k] = expected_test_error(res.W, s.peak_N).numpy()
            sampled[:, k] = res.test_loss.numpy()
        out["merged" if merged else "separate"] = _stats(losses)
        out["sampled"]["merged" if merged else "separate"] = _stats(sampled)
    return out


def few_many_runs(Ps, d: int, N: int, test, n_seeds: int, seed: int) -> dict:
    """The paper's few-versus-many-tasks experiment: for each number of tasks ``P``, ``n_seeds``
    runs of the paper's training (a fresh training set from ``step_generator(seed, 10 + r)`` and
    a fresh initialisation per run ``r``), each scored on ``test``: ``{P: [TrainingResult]}``."""
    return {P: [train_linear_attention(sample_prompts(P, d, N, step_generator(seed, 10 + r)), test,
                                       GradientTrainingConfig(), generator=torch.Generator().manual_seed(r))
                for r in range(n_seeds)]
            for P in Ps}


def few_many_and_marginals(s: SpinGlassStudy) -> dict:
    """The chapter's cheap checks against the paper's numbers, stored so that claims can read
    them: few versus many tasks, the message-passing marginals, the zero-mode fractions.
    The chapter recomputes each of them on its own page and asserts that they agree."""
    d, N = s.few_many_d, s.few_many_N
    test = sample_prompts(s.n_test, d, N, step_generator(s.seed, 2))
    few_many = {str(P): {"test_loss": [float(r.test_loss[-1]) for r in runs],
                         "expected_error": [float(expected_test_error(r.W, N)) for r in runs],
                         "contrast_ratio": [float(contrast_ratio(r.W)) for r in runs]}
                for P, runs in few_many_runs(s.few_many_Ps, d, N, test, s.few_many_seeds, s.seed).items()}
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
    with torch_threads(1):     # small solves: one thread each (see contrast_ratio_grid)
        out, wall = {}, {}
        for key, fn in (("checks", few_many_and_marginals), ("heat_map", heat_map),
                        ("error_against_context", error_against_context), ("interpolation", interpolation_peak)):
            t0 = time.perf_counter()
            out[key] = fn(s)
            wall[key] = round(time.perf_counter() - t0, 1)
        out["wall_time_s"] = wall
        return out


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


# ---- softmax attention and a transformer against linear attention (the paper's Fig. S8) ------

class FixedPromptsProblem:
    """Minibatches from a fixed set of prompts ``tokens [P, N + 1, D + 1]`` (the columns of
    ``Z``, query last, its label zeroed) with query labels ``y [P]``: the finite pretraining set
    of the spin glass, for the book's training loop. The loss is the squared error at the query."""

    def __init__(self, tokens: torch.Tensor, y: torch.Tensor):
        self.tokens, self.y = tokens, y

    def batch(self, step: int, batch_size: int, seed: int, device: torch.device):
        idx = torch.randint(len(self.y), (batch_size,), generator=step_generator(seed, step))
        return to_device(self.tokens[idx], device), to_device(self.y[idx], device)

    @staticmethod
    def predict(model, tokens: torch.Tensor) -> torch.Tensor:
        out = model(tokens)
        return out[:, -1, 0] if out.dim() == 3 else out

    def loss(self, model, batch) -> torch.Tensor:
        tokens, y = batch
        return torch.nn.functional.mse_loss(self.predict(model, tokens).float(), y)


@dataclass(frozen=True)
class ArchitectureStudy:
    seed: int = 0
    d: int = 10
    Ns: tuple[int, ...] = (50, 100)
    n_prompts: int = 10_000
    n_test: int = 1000
    lam0: float = 0.01               # the exact Boltzmann mean (what message passing approximates)
    steps: int = 1000                # softmax attention and the transformer: AdamW minibatches
    batch_size: int = 128
    lr_softmax: float = 1e-2
    lr_transformer: float = 1e-3
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def compute_architectures(p: Profile) -> dict:
    """Test error on fresh tasks of linear attention (the exact Boltzmann mean at lam0), softmax
    attention and the book's transformer, each trained on the same P prompts, for each N."""
    import tempfile

    from ..models import Transformer, TransformerConfig
    from ..train import TrainConfig, train

    s: ArchitectureStudy = p.task
    out = {"Ns": list(s.Ns), "linear": [], "softmax": [], "transformer": [], "predict_zero": [], "wall_time_s": {}}
    for k, N in enumerate(s.Ns):
        tr = sample_prompts(s.n_prompts, s.d, N, step_generator(s.seed, 100 + k))
        te = sample_prompts(s.n_test, s.d, N, step_generator(s.seed, 100 + k, EVAL_STREAM))
        exact = boltzmann_gaussian(spin_glass_of(tr, s.lam0), 100.0).mean_matrix()
        out["linear"].append(float(gram_prediction_error(exact, gram_stats([te]))[0]))
        out["predict_zero"].append(float((te.y_query ** 2).mean()))
        tokens = {name: prompts.matrix().transpose(1, 2).float() for name, prompts in (("train", tr), ("test", te))}
        problem = FixedPromptsProblem(tokens["train"], tr.y_query.float())
        for name in ("softmax", "transformer"):
            torch.manual_seed(s.seed)
            model = (SoftmaxAttentionRegressor(s.d) if name == "softmax" else
                     Transformer(TransformerConfig(d_in=s.d + 1, d_out=1, n_ctx=N + 1, n_layer=s.n_layer,
                                                   n_head=s.n_head, d_model=s.d_model)))
            cfg = TrainConfig(steps=s.steps, batch_size=s.batch_size, warmup_steps=max(1, s.steps // 20),
                              lr=s.lr_softmax if name == "softmax" else s.lr_transformer, seed=s.seed,
                              log_every=max(1, s.steps // 10), checkpoint_every=0)
            with tempfile.TemporaryDirectory() as run_dir:
                res = train(model, problem, cfg, run_dir, progress=False)
            with torch.no_grad():
                y_hat = FixedPromptsProblem.predict(res.model.eval(), tokens["test"]).double()
            out[name].append(float(((y_hat - te.y_query) ** 2).mean()))
            out["wall_time_s"][f"{name}-N{N}"] = round(res.wall_time_s, 1)
    return out


def _arch_profiles() -> dict[str, Profile]:
    smoke = ArchitectureStudy(d=3, Ns=(8,), n_prompts=200, n_test=100, steps=30, batch_size=32, n_layer=1,
                              d_model=16, n_head=2)
    return {
        "smoke": Profile(smoke, None, None, note="tiny sizes, for the tests"),
        "cpu": Profile(ArchitectureStudy(), None, None,
                       note="D = 10 and N = 50, 100 instead of D = 20 and N up to 200; a 2-layer, 64-wide "
                            "transformer; 1000 AdamW steps of 128 prompts"),
        "paper": Profile(ArchitectureStudy(d=20, Ns=(100, 200), steps=20_000, n_layer=4, d_model=128), None, None,
                         note="the paper's D = 20 and N = 100, 200; model and budget ours (the paper gives neither)"),
    }


SPINGLASS_ARCH = Experiment("spinglass-arch", "spinglass",
                            "Softmax attention and a transformer against linear attention on the spin glass's "
                            "prompts (Li, Bai & Huang 2025, Fig. S8); trained here, results only",
                            _arch_profiles(), None, None, compute=compute_architectures)
