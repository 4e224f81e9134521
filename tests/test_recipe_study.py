"""The recipe study's logic at tiny sizes: the frontier, the power-law fit, and one real run through
the book's loop with its excess-loss measure."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("recipe_study", BENCH / "recipe_study.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["recipe_study"] = mod          # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


def _run(family, curve):
    return {"run": {"family": family}, "curve": [{"core_s": c, "excess": e} for c, e in curve],
            "core_s": curve[-1][0], "final_excess": curve[-1][1], "name": family, "tokens": 1}


def test_frontier_keeps_the_lowest_excess_at_each_compute(study):
    runs = [_run("ginc", [(1, 1.0), (2, 0.8), (4, 0.7)]), _run("ginc", [(1.5, 0.9), (3, 0.5), (6, 0.6)])]
    assert study.frontier(runs) == [(1, 1.0), (1.5, 0.9), (2, 0.8), (3, 0.5)]


def test_power_law_recovers_its_exponent(study):
    c = np.geomspace(10, 1000, 8)
    fit = study.power_law(list(zip(c, 3.0 * c ** -0.5)), 0.0)
    assert fit["b"] == pytest.approx(0.5, abs=1e-9) and fit["a"] == pytest.approx(3.0, rel=1e-9)
    assert fit["excess_at_cpu_budget"] == pytest.approx(3.0 * study.CPU_BUDGET_S ** -0.5)
    assert study.power_law([(1, 1.0), (2, 0.5)], 0.0) is None        # too few points to fit


def test_a_tiny_pool_run_measures_excess_through_the_loop(study):
    run = study.Run("pool-m6", "kernel-pool-m6", 1, 16, 3e-3, 4, 12, evals=3)
    rec = study.execute(run, quick=True)
    assert [pt["step"] for pt in rec["curve"]] == [4, 8, 12]
    assert rec["tokens"] == 12 * 4 * rec["block_tokens"]
    assert all(pt["ce_model"] > pt["ce_exact"] > 0 for pt in rec["curve"])   # an untrained model is far from exact
    assert 0 <= rec["core_s"] and np.isfinite(rec["final"]["own_gain"])
