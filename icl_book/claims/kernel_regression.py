"""The kernel-regression chapter (Han, Wang, Zhao & Ji, TMLR 2025).

Every value comes from ``kernel-analysis-cpu``: Table 3's numerics (``table3``), and the five
experiments and the controls on the shipped models (``models``). The thresholds were written with
the claims, before the analysis artifact was computed.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..papers import HAN_2025, PaperValue
from . import ClaimSpec, above, at_least, below, close_to, register, within

SOURCE = "kernel-analysis-cpu"
OWN = "kernel-hmm-cpu"          # the model trained for this chapter
DEPTH = "ginc-12l-cpu"          # the deepest model, for where the heads sit


def _table3(r: dict, key: str) -> dict:
    return r["evaluation"]["table3"][key]


def table3_slope(r: dict) -> float:
    """Log-log slope of the task-covariance estimator's distance to the task's predictive, n >= 16,
    in the well-conditioned family."""
    t = _table3(r, "well_conditioned")
    n, d = np.array(t["n"], float), np.array(t["task_distance_to_task"])
    keep = n >= 16
    return float(np.polyfit(np.log(n[keep]), np.log(d[keep]), 1)[0])


def table3_floor_ratio(r: dict) -> float:
    """Distance with Σ_pre over distance with Σ_θ* at the largest n (well-conditioned)."""
    t = _table3(r, "well_conditioned")
    return t["pre_distance_to_task"][-1] / t["task_distance_to_task"][-1]


def _model(r: dict, name: str = OWN) -> dict:
    return r["evaluation"]["models"][name]


def head_relative_depth(r: dict) -> float:
    a = _model(r, DEPTH)
    return (a["best_head"]["layer"] + 0.5) / len(a["layer_best"])


def _probe(r: dict, key: str, offset: int) -> float:
    """The best head's probe accuracy above a probe that learned nothing (the commonest target)."""
    a = _model(r)
    best = float(np.max(np.array(a[key])[..., a["probe_offsets"].index(offset)]))
    return best - a["probe_null"][key.removeprefix("probe_")]


def own_model_gain(r: dict) -> float:
    """The chapter's model's accuracy gain from no demonstrations to the most, over the exact
    Bayes predictor's gain on the same prompts: 1 when the model learns in context as Bayes does."""
    ev = r["evaluation"]
    return ((ev["model_accuracy"][-1] - ev["model_accuracy"][0])
            / (ev["bayes_accuracy"][-1] - ev["bayes_accuracy"][0]))


def _control(r: dict, kind: str, who: str = "model") -> float:
    return _model(r)["controls"][kind][who]


_RATE = PaperValue(-0.5, "n^(-1/2) (Hoeffding rate of Theorem 1)", "han2025kernel", "Theorem 1")
_FLOOR = PaperValue(None, "the distance levels off above zero (the pretraining-bias term η²ε_θ)", "han2025kernel",
                    "Theorem 1; App. C, Table 3")
_ABOVE_MAJORITY = PaperValue(None, "attention weights act as kernel weights: the vote predicts the output",
                             "han2025kernel", "Sec. 5.2")

_CONVERGES = PaperValue(None, "in-context predictions approach the Bayes-optimal ones as demonstrations accumulate "
                              "(the premise of Theorem 1)", "han2025kernel", "Sec. 3, Theorem 1")
_OWN = ClaimSpec("kernel_regression.learns-in-context.cpu", "kernel_regression",
                 "The chapter's model learns in context as the exact Bayes predictor does: its accuracy gain from "
                 "no demonstrations to the most, over the Bayes predictor's gain on the same prompts.",
                 _CONVERGES, "cpu", OWN, own_model_gain, at_least(0.8, 0.5),
                 passes=1.0, fails=(0.0, "a model that ignores the demonstrations"))

SPECS = (
    ClaimSpec("kernel_regression.table3-rate.cpu", "kernel_regression",
              "Kernel regression with the task's own covariance converges to the task's predictive at n^(-1/2): "
              "log-log slope of its L1 distance for n >= 16 (well-conditioned HMM family).",
              _RATE, "cpu", SOURCE, table3_slope, close_to(_RATE, 0.15, 0.3), passes=-0.5, fails=(0.0, "an estimator that does not converge")),
    ClaimSpec("kernel_regression.table3-floor.cpu", "kernel_regression",
              "With the pretraining covariance the estimator stops at a bias floor: its distance over the "
              "task-covariance estimator's at the largest n (well-conditioned family).",
              _FLOOR, "cpu", SOURCE, table3_floor_ratio, at_least(2.0, 1.2), passes=2.0,
              fails=(1.0, "no bias floor: the pretraining covariance as good as the task's")),
    ClaimSpec("kernel_regression.table3-paper-distance.cpu", "kernel_regression",
              "In the paper's configuration (8 tasks, 80 states, 100 symbols; GINC-built HMMs) the distance to "
              "the Bayes posterior at n = 128.",
              HAN_2025["table3_floor"], "cpu", SOURCE,
              lambda r: _table3(r, "paper")["task_distance_to_bayes"][-1],
              close_to(HAN_2025["table3_floor"], 0.05, 0.2), passes=0.083,
              fails=(1.322, "the distance after one demonstration (the paper's n = 1): no convergence")),
    ClaimSpec("kernel_regression.table3-paper-accuracy.cpu", "kernel_regression",
              "In the paper's configuration, kernel regression's accuracy at n = 128.",
              HAN_2025["table3_accuracy_at_128"], "cpu", SOURCE,
              lambda r: _table3(r, "paper")["task_accuracy"][-1],
              close_to(HAN_2025["table3_accuracy_at_128"], 0.05, 0.15), passes=0.964,
              fails=(0.337, "the accuracy after one demonstration (the paper's n = 1)")),
    ClaimSpec("kernel_regression.best-head-agreement.cpu", "kernel_regression",
              "The best head's kernel vote agrees with the chapter's model on held-out prompts (selected on 700, "
              "tested on 300; k = 3, n = 32).",
              HAN_2025["table2_sst2"], "cpu", SOURCE, lambda r: _model(r)["best_head"]["agreement"],
              within(HAN_2025["table2_sst2"], 0.1), passes=0.7,
              fails=(0.25, "the majority label's agreement with the model (uniform attention)")),
    ClaimSpec("kernel_regression.best-head-above-majority.cpu", "kernel_regression",
              "The best head's vote beats uniform attention (the majority label) at predicting the chapter's "
              "model: held-out agreement, best head minus majority label.",
              _ABOVE_MAJORITY, "cpu", SOURCE,
              lambda r: _model(r)["best_head"]["agreement"] - _model(r)["majority_vote_agreement"],
              above(0.1, 0.0), passes=0.2, fails=(0.0, "a head that votes like uniform attention")),
    ClaimSpec("kernel_regression.head-location.cpu", "kernel_regression",
              "The best kernel head sits in the middle layers: its relative depth (layer + 1/2) / L in the "
              "12-layer GINC model.",
              HAN_2025["best_head_location"], "cpu", SOURCE, head_relative_depth,
              close_to(HAN_2025["best_head_location"], 0.2, 0.35), passes=0.6,
              fails=(0.5 / 12, "a head in the first of twelve layers")),
    ClaimSpec("kernel_regression.probe-values.cpu", "kernel_regression",
              "Values encode the labels: best ridge-probe accuracy of y_i from a head's values one position after "
              "the label (the delimiter), above a probe that always says the commonest label; chapter's model.",
              HAN_2025["probes"], "cpu", SOURCE, lambda r: _probe(r, "probe_values_label", 1), at_least(0.3, 0.1), passes=0.5,
              fails=(0.0, "a probe no better than always saying the commonest label")),
    ClaimSpec("kernel_regression.probe-keys.cpu", "kernel_regression",
              "Keys encode the model's own prediction for x_i: best ridge-probe accuracy from a head's keys at "
              "x_i's last token, above a probe that always says the commonest prediction; chapter's model.",
              HAN_2025["probes"], "cpu", SOURCE, lambda r: _probe(r, "probe_keys_own_prediction", -1),
              at_least(0.3, 0.1), passes=0.5, fails=(0.0, "a probe no better than always saying the commonest prediction")),
    ClaimSpec("kernel_regression.retrieval.cpu", "kernel_regression",
              "Retrieving the 8 demonstrations most similar to the test input (of 32) helps: the chapter's model's "
              "accuracy gain over 8 random ones.",
              HAN_2025["retrieval_helps"], "cpu", SOURCE,
              lambda r: _control(r, "retrieved_similar") - _control(r, "clean"), above(0.02, 0.0), passes=0.05,
              fails=(0.0, "retrieval changes nothing")),
    ClaimSpec("kernel_regression.ood.cpu", "kernel_regression",
              "Out-of-distribution demonstrations hurt: accuracy lost when 30 % of the demonstrations' input "
              "tokens are substituted (chapter's model).",
              HAN_2025["ood_typos_drop"], "cpu", SOURCE,
              lambda r: _control(r, "clean") - _control(r, "substituted_inputs"), above(0.05, 0.0), passes=0.1,
              fails=(0.0, "a model that ignores its demonstrations' inputs")),
    ClaimSpec("kernel_regression.order.cpu", "kernel_regression",
              "Kernel regression cannot explain order sensitivity: the fraction of the chapter's model's spread "
              "over the 24 orders of 4 demonstrations that its best head's vote explains.",
              HAN_2025["order_sensitivity"], "cpu", SOURCE,
              lambda r: _model(r)["controls"]["order"]["explained_by_head"], below(0.5, 0.8), passes=0.0,
              fails=(1.0, "a vote that explains all of the order spread")),
)

# The model each analysis claim reads (the Table 3 numerics are exact: they read none).
_READS = {"kernel_regression.head-location.cpu": (DEPTH,),
          **{f"kernel_regression.{cid}.cpu": (OWN,) for cid in ("best-head-agreement", "best-head-above-majority",
                                                               "probe-values", "probe-keys", "retrieval", "ood",
                                                               "order")}}
SPECS = tuple(replace(s, reads=_READS.get(s.id, ())) for s in SPECS)
_OWN = replace(_OWN, reads=(OWN,))

for _spec in SPECS:
    register(_spec)
register(_OWN)
register(_OWN.at("paper"))

assert all(math.isfinite(s.paper.value) for s in SPECS if s.paper.value is not None)
