"""Message passing for the spin glass of linear attention, and the chapter's heat map, timed.

1. One D = 20 instance (441 spins; N = 100, P = 1000, lam0 = 1, beta = 100, the corner of the
   paper's heat map): the paper's per-spin Python loop (``message_passing_loop``) against the
   vectorised solver (``message_passing``), same start, same stopping rule. The script checks
   that both stop after the same number of sweeps at the same marginals, then prints the ratio.
2. The full contrast-ratio heat map of the paper's Fig. 4(a): D = 20, 50 values of P in
   20..1000, 50 values of N in 2..100, lam0 = 1, 10 repeats, computed from the exact Gaussian
   means (``contrast_ratio_grid``), timed once after a small warm-up.
3. Message passing at a few of those grid points, on the same data, beside the exact value.
   Its fixed point is not exactly the Gaussian mean (the update has no Onsager reaction
   term), so the script reports how far apart the two contrast ratios are.

    python benchmarks/message_passing.py --out benchmarks/results/message-passing-cpu.json

Timing follows the house rule: warm up first, then report the median of several timed runs
(the grid is timed once: it is itself 500 independent solves of 50 systems). The JSON holds
device, dtype, torch version, commit, date, thread counts and the load average around the run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from icl_book.analysis.spinglass import contrast_ratio
from icl_book.bayes.spinglass import boltzmann_gaussian, message_passing, message_passing_loop, spin_glass_of
from icl_book.experiments.spinglass import contrast_ratio_grid
from common import write_result
from icl_book.provenance import cpu_name, git_commit
from icl_book.models.linear_attention import sample_prompts
from icl_book.seeding import step_generator

# The paper's Fig. 4(a) grid: np.linspace(20, 1000, 50) prompts, np.linspace(2, 100, 50) examples.
GRID_PS = np.linspace(20, 1000, 50, dtype=int).tolist()
GRID_NS = np.linspace(2, 100, 50, dtype=int).tolist()
CHECK_POINTS = ((20, 2), (100, 100), (400, 50), (600, 100), (1000, 2), (1000, 100))
ROW_PS = (100, 200, 400, 600, 1000)   # the values the chapter quotes at N = 100



def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads for parts 1 and 3 (one: a 441-spin sweep gains nothing from two)")
    p.add_argument("--workers", type=int, default=2, help="repeats of the grid solved at once (one thread each)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of the vectorised solver")
    p.add_argument("--loop-repeats", type=int, default=2, help="timed runs of the per-spin loop")
    p.add_argument("--grid-repeats", type=int, default=10, help="repeats of the heat map (the paper: 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = p.parse_args(argv)
    if min(args.threads, args.workers, args.repeats, args.loop_repeats, args.grid_repeats) < 1:
        p.error("all counts must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    beta, damping, tol, lam0 = 100.0, 0.9, 1e-6, 1.0

    # 1. per-spin loop against the vectorised solver, one instance
    D, N, P = 20, 100, 1000
    sg = spin_glass_of(sample_prompts(P, D, N, step_generator(args.seed, 0)), lam0)
    solve = lambda: message_passing(sg, beta, damping, tol)                       # noqa: E731
    solve()                                                                        # warm-up
    t_vec, fast = timed(solve, args.repeats)
    t_loop, slow = timed(lambda: message_passing_loop(sg, beta, damping, tol), args.loop_repeats)
    assert fast.converged and slow.converged and fast.iterations == slow.iterations, \
        f"the two solvers disagree: {fast.iterations} vs {slow.iterations} sweeps"
    diff_m = float((fast.mean - slow.mean).abs().max())
    diff_v = float((fast.var - slow.var).abs().max())
    assert diff_m < 1e-10 and diff_v < 1e-10, f"the two solvers disagree: |dm| {diff_m:.2e}, |dv| {diff_v:.2e}"
    t_exact, exact = timed(lambda: boltzmann_gaussian(sg, beta), args.repeats)
    vec, loop = statistics.median(t_vec), statistics.median(t_loop)
    print(f"instance D={D} N={N} P={P} lam0={lam0} beta={beta}: {sg.n_spins} spins, "
          f"{fast.iterations} sweeps to change < {tol:g}")
    print(f"  per-spin loop   {loop * 1e3:10.1f} ms  (median of {args.loop_repeats})")
    print(f"  vectorised      {vec * 1e3:10.1f} ms  (median of {args.repeats})   ratio loop / vectorised: {loop / vec:.0f}x")
    print(f"  exact Gaussian  {statistics.median(t_exact) * 1e3:10.1f} ms  (Cholesky + triangular solves)")
    print(f"  max |m_loop - m_vec| {diff_m:.1e}, max |v_loop - v_vec| {diff_v:.1e}")
    rel_mean = float((fast.mean - exact.mean).norm() / exact.mean.norm())
    print(f"  message passing vs exact mean: relative difference {rel_mean:.4f}; contrast ratio "
          f"{float(contrast_ratio(fast.mean_matrix())):.4f} vs {float(contrast_ratio(exact.mean_matrix())):.4f}")

    # 2. the heat map
    contrast_ratio_grid(D, GRID_PS[:3], GRID_NS[:2], lam0=lam0, repeats=args.workers, seed=args.seed,
                        workers=args.workers)                                       # warm-up
    t0 = time.perf_counter()
    grid = contrast_ratio_grid(D, GRID_PS, GRID_NS, lam0=lam0, repeats=args.grid_repeats, seed=args.seed,
                               workers=args.workers)
    t_grid = time.perf_counter() - t0
    n_last = GRID_NS.index(100)
    row = {P: float(grid.mean[n_last, GRID_PS.index(P)]) for P in ROW_PS}
    row_std = {P: float(grid.std[n_last, GRID_PS.index(P)]) for P in ROW_PS}
    print(f"\ncontrast-ratio grid {len(GRID_NS)} N x {len(GRID_PS)} P x {args.grid_repeats} repeats (D={D}, "
          f"lam0={lam0}, exact Gaussian means, float64, {args.workers} workers): {t_grid:.1f} s")
    print("  at N=100: " + ", ".join(f"P={P}: {row[P]:.3f} ± {row_std[P]:.3f}" for P in ROW_PS))

    # 3. message passing at a few grid points, on the grid's own data (repeat 0)
    full = sample_prompts(max(GRID_PS), D, max(GRID_NS), step_generator(args.seed, 0))
    checks = []
    for P, N in CHECK_POINTS:
        mp = message_passing(spin_glass_of(full.subset(P, N), lam0), beta, damping, tol)
        exact_ratio = float(grid.values[0, GRID_NS.index(N), GRID_PS.index(P)])
        mp_ratio = float(contrast_ratio(mp.mean_matrix()))
        checks.append(dict(P=P, N=N, exact=exact_ratio, message_passing=mp_ratio, converged=mp.converged,
                           sweeps=mp.iterations, abs_diff=abs(mp_ratio - exact_ratio)))
        print(f"  check P={P:4d} N={N:3d}: exact {exact_ratio:.4f}, message passing {mp_ratio:.4f} "
              f"({'converged' if mp.converged else 'NOT converged'} in {mp.iterations} sweeps)")

    result = {
        "benchmark": "message_passing",
        "device": "cpu", "device_name": cpu_name(), "dtype": "float64",
        "torch": torch.__version__, "python": platform.python_version(), "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "threads": args.threads, "grid_workers": args.workers, "cpu_count": os.cpu_count(),
        "instance": dict(D=D, N=N, P=P, lam0=lam0, beta=beta, damping=damping, tol=tol, spins=sg.n_spins,
                         sweeps=fast.iterations),
        "loop_s": t_loop, "vectorised_s": t_vec, "exact_s": t_exact, "ratio_loop_over_vectorised": loop / vec,
        "max_abs_diff": {"mean": diff_m, "var": diff_v}, "mp_vs_exact_relative_mean_diff": rel_mean,
        "grid": dict(D=D, Ps=GRID_PS, Ns=GRID_NS, lam0=lam0, repeats=args.grid_repeats, seconds=t_grid,
                     row_N100=row, row_N100_std=row_std, mean=grid.mean.tolist()),
        "grid_checks": checks,
        "load_avg_1_5_15": {"before": load_before, "after": os.getloadavg()},
    }
    return write_result(result, args.out)


if __name__ == "__main__":
    main()
