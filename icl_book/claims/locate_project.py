"""The locate-and-project chapter (Yu & Ananiadou, EMNLP 2024), on the book's trained classifiers.

Accuracy comes from the trained artifacts' own evaluation (``classify-{prior}-cpu``); every
other value from the results-only analysis ``classify-analysis-cpu`` (``locate.report`` of each
shipped model on fresh, seeded prompts, with the sha256 of the weights it read). Each claim has
its twin on the paper profile (``….paper``), "not run" until a GPU run ships it.

The paper's numbers are for GPT-2 large and Llama on sentence classification with foo/bar
labels; ours for a small model trained from scratch on a synthetic task, so each claim says what
it compares. A model stuck on the majority-label plateau (answering with the prompt's majority
label, 5/7 of the time right, with layer-0 heads that count labels) is the plausible wrong model
here: every rule about the two-tower circuit rejects it.
"""

from __future__ import annotations

from dataclasses import replace

from ..papers import YU_2024, PaperValue
from . import ClaimSpec, above, at_least, at_most, register

ANALYSIS = "classify-analysis-cpu"
COUNT_LEVEL = 5 / 7   # the majority label's accuracy: mean of max(n_A, 8 - n_A) / 8 over n_A = 1..7


def _an(prior: str, key: str):
    def compute(results: dict) -> float:
        return float(results["evaluation"]["models"][prior][key])
    return compute


def _accuracy(results: dict) -> float:
    return float(results["evaluation"]["query_accuracy"]["mean"])


def _ablation(kind: str):
    def compute(results: dict) -> float:
        ab = results["evaluation"]["models"]["proportional"]["ablation"]
        base = ab["clean"][0] if kind == "drop" else ab["random_mean"]
        return float(base - ab["located"][0])
    return compute


def _deep_share(results: dict) -> float:
    heads = results["evaluation"]["models"]["proportional"]["heads"]
    return sum(1 for layer, _ in heads if layer >= 1) / len(heads) if heads else 0.0


_BEFORE, _AFTER = YU_2024["accuracy_before"], YU_2024["accuracy_after"]
_DROP = PaperValue(_BEFORE.value - _AFTER.value, f"{_BEFORE.text}, {_AFTER.text}", _BEFORE.cite, _BEFORE.where)
_MAJ, _REC = YU_2024["majority_bias_reduction"], YU_2024["recency_bias_reduction"]
_PLATEAU_DROP = COUNT_LEVEL - 0.5   # the most a plateau model can lose: its counting heads zeroed, down to chance

SPECS = [
    ClaimSpec("locate.accuracy.cpu", "locate_project",
              "A transformer trained from scratch classifies in context with labels re-assigned in every prompt: "
              "held-out query accuracy (chance 0.5; reading the label counts alone gives 5/7)",
              _BEFORE, "cpu", "classify-proportional-cpu", _accuracy, at_least(0.85, 0.8),
              passes=0.95, fails=(COUNT_LEVEL, "the majority-label plateau: answering with the prompt's majority label")),
    ClaimSpec("locate.independent-accuracy.cpu", "locate_project",
              "With the query's class independent of the label counts, a model trained the same way classifies in "
              "context too: held-out query accuracy (chance 0.5)",
              _BEFORE, "cpu", "classify-independent-cpu", _accuracy, at_least(0.85, 0.8),
              passes=0.95, fails=(0.5, "chance: where the counts say nothing, the plateau model has nothing")),
    ClaimSpec("locate.deep-heads.cpu", "locate_project",
              "The located in-context heads sit above the first layer (a layer-0 head reads only tokens, so it can "
              "count labels but not compare the query with them): the share of the located set in layers >= 1",
              YU_2024["two_towers"], "cpu", ANALYSIS, _deep_share, at_least(0.75, 0.5),
              passes=1.0, fails=(0.0, "the plateau's located set: layer-0 heads that copy every label token")),
    ClaimSpec("locate.ablation-drop.cpu", "locate_project",
              "Zeroing the located heads (those carrying 80 % of the heads' logit difference) collapses in-context "
              "classification: accuracy before minus after (a plateau model can lose at most 5/7 - 1/2)",
              _DROP, "cpu", ANALYSIS, _ablation("drop"), at_least(0.35, 0.25),
              passes=0.45, fails=(_PLATEAU_DROP, "the plateau model with its counting heads zeroed: 5/7 down to chance")),
    ClaimSpec("locate.ablation-specific.cpu", "locate_project",
              "The located heads matter more than any heads: accuracy with random sets of as many heads zeroed "
              "(mean of 20) minus accuracy with the located set zeroed",
              _DROP, "cpu", ANALYSIS, _ablation("specific"), at_least(0.3, 0.25),
              passes=0.4, fails=(_PLATEAU_DROP, "the plateau model: random sets leave 5/7, the located set chance")),
    ClaimSpec("locate.heads-fraction.cpu", "locate_project",
              "Few heads carry the prediction: the located set's share of all heads",
              YU_2024["heads_fraction"], "cpu", ANALYSIS, _an("proportional", "fraction_of_heads"), at_most(0.25, 0.5),
              passes=1 / 12, fails=(10 / 12, "the logit difference spread evenly: 80 % of it needs 10 of 12 heads")),
    ClaimSpec("locate.value-output.cpu", "locate_project",
              "The located heads' value-output vector at each label position reads, in the vocabulary, as that "
              "label: the share of label positions whose top projected token is the label",
              YU_2024["value_output_labels"], "cpu", ANALYSIS, _an("proportional", "located_hit"), at_least(0.9, 0.6),
              passes=1.0, fails=(0.25, "a head that writes one of the four label tokens at random")),
    ClaimSpec("locate.two-tower.cpu", "locate_project",
              "Query and key match the query to the demonstrations of its class: the share of prompts in which the "
              "top located head attends more per same-class label position than per other-class one",
              YU_2024["two_towers"], "cpu", ANALYSIS, _an("proportional", "paired_positive"), at_least(0.9, 0.7),
              passes=0.98, fails=(0.5, "a head that attends by count or position, not by class: a coin flip")),
    ClaimSpec("locate.qk-gap.cpu", "locate_project",
              "The top located head's scaled q·k is higher on label positions of the query's class than on the "
              "other class's: the mean gap (e^gap is the attention ratio per position)",
              YU_2024["two_towers"], "cpu", ANALYSIS, _an("proportional", "score_gap"), above(1.0, 0.3),
              passes=2.0, fails=(0.0, "a counting head: the same score on every label position")),
    ClaimSpec("locate.majority-bias.cpu", "locate_project",
              "Majority-label bias on ambiguous queries: p(A) / (p(A) + p(B)) at n_A = 7 minus at n_A = 1 "
              "(under this training prior the exact Bayes answer has 0.75)",
              YU_2024["majority_bias"], "cpu", ANALYSIS, _an("proportional", "majority_bias"), at_least(0.2, 0.05),
              passes=0.75, fails=(0.0, "a model that ignores the counts on ambiguous queries")),
    ClaimSpec("locate.majority-reduction.cpu", "locate_project",
              "Balancing the located heads' attention between the two labels reduces majority-label bias: the "
              "reduction in %",
              _MAJ, "cpu", ANALYSIS, _an("proportional", "majority_reduction"), at_least(0.5 * _MAJ.value, 1.0),
              passes=_MAJ.value, fails=(0.0, "a re-weighting that leaves the bias as it was")),
    ClaimSpec("locate.recency-bias.cpu", "locate_project",
              "Recency bias on ambiguous queries (n_A = 4): p(A) / (p(A) + p(B)) with every A demonstration last "
              "minus with every A first (Bayes: 0)",
              YU_2024["recency_bias"], "cpu", ANALYSIS, _an("proportional", "recency_bias"), at_least(0.05, 0.02),
              passes=0.1, fails=(0.0, "no recency bias: the Bayes learner of either prior")),
    ClaimSpec("locate.recency-reduction.cpu", "locate_project",
              "Flattening the located heads' attention over label positions reduces recency bias: the reduction "
              "in % (undefined, so not reproduced, when there is less than 0.02 of bias to reduce)",
              _REC, "cpu", ANALYSIS, _an("proportional", "recency_reduction"), at_least(0.5 * _REC.value, 1.0),
              passes=_REC.value, fails=(0.0, "a re-weighting that leaves the bias as it was")),
    ClaimSpec("locate.independent-majority-bias.cpu", "locate_project",
              "Majority-label bias where the counts are no evidence: with the query's class independent of them "
              "(Bayes: no bias), p(A) / (p(A) + p(B)) on ambiguous queries at n_A = 7 minus at n_A = 1",
              YU_2024["majority_bias"], "cpu", ANALYSIS, _an("independent", "majority_bias"), at_least(0.2, 0.05),
              passes=0.3, fails=(0.0, "the Bayes learner of the independent prior: 1/2 whatever the counts")),
    ClaimSpec("locate.independent-two-tower.cpu", "locate_project",
              "Under the independent prior too, the top located head matches the query to its class: the share of "
              "prompts in which it attends more per same-class label position than per other-class one",
              YU_2024["two_towers"], "cpu", ANALYSIS, _an("independent", "paired_positive"), at_least(0.9, 0.7),
              passes=0.98, fails=(0.5, "a head that attends by count or position, not by class: a coin flip")),
]



def _model_of(spec: ClaimSpec) -> str:
    """The trained classifier a claim's value rests on: the independent prior's for the claims that name
    it, the proportional prior's (the chapter's headline model) for every other."""
    return f"classify-{'independent' if '.independent-' in spec.id else 'proportional'}-cpu"


for _spec in SPECS:
    _spec = replace(_spec, reads=(_model_of(_spec),))
    register(_spec)
    register(_spec.at("paper"))
