"""Chapter 0: in-context linear regression (Garg et al. 2022)."""

from __future__ import annotations

from ..papers import GARG_2022
from . import ClaimSpec, at_most, register, within

def _curve_at(results: dict, key: str, n: int) -> float:
    return results["evaluation"]["curves"][key]["mean"][n]


def _two_d(results: dict) -> int:
    return 2 * results["task"]["d"]


def _max_gap_below_d(results: dict) -> float:
    curves, d = results["evaluation"]["curves"], results["task"]["d"]
    return max(abs(curves["transformer"]["mean"][n] - curves["bayes"]["mean"][n]) for n in range(d + 1))


for _profile in ("cpu", "paper"):
    register(ClaimSpec(
        id=f"ch0.error-at-2d.{_profile}", chapter="ch0",
        statement="With 2d examples in the prompt, the trained transformer's normalised squared error "
                  "is near zero, as least squares' is.",
        paper=GARG_2022["transformer_error_at_2d"], profile=_profile, source=f"linreg-{_profile}",
        compute=lambda r: _curve_at(r, "transformer", _two_d(r)), judge=at_most(0.05, 0.2),
        reads=(f"linreg-{_profile}",), passes=0.0, fails=(1.0, "a model that ignores the examples and predicts 0 (error 1)")))

register(ClaimSpec(
    id="ch0.follows-bayes", chapter="ch0",
    statement="With fewer examples than dimensions, the transformer follows the Bayes-optimal "
              "(minimum-norm) predictor: the largest gap between their normalised errors for n ≤ d.",
    paper=GARG_2022["transformer_vs_least_squares"], profile="cpu", source="linreg-cpu",
    compute=_max_gap_below_d, judge=at_most(0.05, 0.15), reads=("linreg-cpu",),
    passes=0.0, fails=(1.0, "a model that ignores the examples: error 1 where the Bayes predictor's is 0 (n = d)")))

register(ClaimSpec(
    id="ch0.knn-at-2d", chapter="ch0",
    statement="With 2d examples, 3-nearest-neighbours stays far from least squares.",
    paper=GARG_2022["knn_error_at_2d"], profile="cpu", source="linreg-cpu",
    compute=lambda r: _curve_at(r, "nearest_neighbours", _two_d(r)), judge=within(GARG_2022["knn_error_at_2d"], 0.2),
    passes=0.8, fails=(0.0, "a baseline that returned least squares' answer instead of its neighbours'")))
