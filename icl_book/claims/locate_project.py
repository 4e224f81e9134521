"""The locate-and-project chapter (Yu & Ananiadou, EMNLP 2024), on the book's trained classifiers.

Every value is measured on the shipped weights by ``icl_book.analysis.locate.report`` (fresh,
seeded prompts; computed once per model and shared with the chapter). The paper's numbers are
for GPT-2 large and Llama on sentence classification with foo/bar labels; ours for a 3-layer
model trained from scratch on a synthetic task, so each claim says what it compares.
"""

from __future__ import annotations

from ..analysis.locate import cached_report
from ..papers import YU_2024, PaperValue
from ..tasks.classification import ClassificationTask
from . import ClaimSpec, at_least, at_most, register

SOURCE = "classify-proportional-cpu"


def _value(key: str):
    def compute(results: dict, model) -> float:
        return float(cached_report(model, ClassificationTask(**results["task"]))[key])
    return compute


def _ablation(kind: str):
    def compute(results: dict, model) -> float:
        ab = cached_report(model, ClassificationTask(**results["task"]))["ablation"]
        base = ab["clean"][0] if kind == "drop" else ab["random_mean"]
        return float(base - ab["located"][0])
    return compute


_BEFORE, _AFTER = YU_2024["accuracy_before"], YU_2024["accuracy_after"]
_DROP = PaperValue(_BEFORE.value - _AFTER.value, f"{_BEFORE.text}, {_AFTER.text}", _BEFORE.cite, _BEFORE.where)
_MAJ, _REC = YU_2024["majority_bias_reduction"], YU_2024["recency_bias_reduction"]

SPECS = [
    ClaimSpec("locate.accuracy.cpu", "locate_project",
              "A transformer trained from scratch classifies in context with labels re-assigned in every prompt: "
              "held-out query accuracy (chance 0.5; reading the label counts alone gives 5/7)",
              _BEFORE, "cpu", SOURCE, _value("accuracy"), at_least(0.85, 0.8), uses_model=True),
    ClaimSpec("locate.ablation-drop.cpu", "locate_project",
              "Zeroing the located heads (those carrying 80 % of the heads' logit difference) collapses in-context "
              "classification: accuracy before minus after",
              _DROP, "cpu", SOURCE, _ablation("drop"), at_least(0.4, 0.2), uses_model=True),
    ClaimSpec("locate.ablation-specific.cpu", "locate_project",
              "The located heads matter more than any heads: accuracy with random sets of as many heads zeroed "
              "(mean of 20) minus accuracy with the located set zeroed",
              _DROP, "cpu", SOURCE, _ablation("specific"), at_least(0.25, 0.1), uses_model=True),
    ClaimSpec("locate.heads-fraction.cpu", "locate_project",
              "Few heads carry the prediction: the located set's share of all heads",
              YU_2024["heads_fraction"], "cpu", SOURCE, _value("fraction_of_heads"), at_most(0.25, 0.5),
              uses_model=True),
    ClaimSpec("locate.value-output.cpu", "locate_project",
              "The located heads' value-output vector at each label position reads, in the vocabulary, as that "
              "label: the share of label positions whose top projected token is the label",
              YU_2024["value_output_labels"], "cpu", SOURCE, _value("located_hit"), at_least(0.9, 0.6),
              uses_model=True),
    ClaimSpec("locate.two-tower.cpu", "locate_project",
              "Query and key match the query to the demonstrations of its class: the share of prompts in which the "
              "top located head attends more per same-class label position than per other-class one",
              YU_2024["two_towers"], "cpu", SOURCE, _value("paired_positive"), at_least(0.9, 0.7), uses_model=True),
    ClaimSpec("locate.majority-bias.cpu", "locate_project",
              "Majority-label bias on ambiguous queries: p(A) / (p(A) + p(B)) at n_A = 7 minus at n_A = 1 "
              "(under this training prior the exact Bayes answer has 0.75)",
              YU_2024["majority_bias"], "cpu", SOURCE, _value("majority_bias"), at_least(0.2, 0.05), uses_model=True),
    ClaimSpec("locate.majority-reduction.cpu", "locate_project",
              "Balancing the located heads' attention between the two labels reduces majority-label bias: the "
              "reduction in %",
              _MAJ, "cpu", SOURCE, _value("majority_reduction"), at_least(0.5 * _MAJ.value, 1.0), uses_model=True),
    ClaimSpec("locate.recency-bias.cpu", "locate_project",
              "Recency bias on ambiguous queries (n_A = 4): p(A) / (p(A) + p(B)) with every A demonstration last "
              "minus with every A first (Bayes: 0)",
              YU_2024["recency_bias"], "cpu", SOURCE, _value("recency_bias"), at_least(0.05, 0.02), uses_model=True),
    ClaimSpec("locate.recency-reduction.cpu", "locate_project",
              "Flattening the located heads' attention over label positions reduces recency bias: the reduction "
              "in % (undefined, so not reproduced, when there is less than 0.02 of bias to reduce)",
              _REC, "cpu", SOURCE, _value("recency_reduction"), at_least(0.5 * _REC.value, 1.0), uses_model=True),
    ClaimSpec("locate.independent-accuracy.cpu", "locate_project",
              "With the query's class independent of the label counts, a model trained the same way classifies in "
              "context too: held-out query accuracy (chance 0.5)",
              _BEFORE, "cpu", "classify-independent-cpu", _value("accuracy"), at_least(0.85, 0.8), uses_model=True),
    ClaimSpec("locate.independent-majority-bias.cpu", "locate_project",
              "Majority-label bias where the counts are no evidence: with the query's class independent of them "
              "(Bayes: no bias), p(A) / (p(A) + p(B)) on ambiguous queries at n_A = 7 minus at n_A = 1",
              YU_2024["majority_bias"], "cpu", "classify-independent-cpu", _value("majority_bias"),
              at_least(0.2, 0.05), uses_model=True),
]

for _spec in SPECS:
    register(_spec)
