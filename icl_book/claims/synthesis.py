"""The synthesis chapter: five theories read as predictions about ten behaviours of in-context
learning, each prediction set beside what the book's models do.

``THEORIES`` and ``PHENOMENA`` name the table's columns and rows; ``LENSES`` holds one cell per
(phenomenon, theory): what the theory predicts, in the book's words, where in the paper it comes
from, and the registered claims that test it on our models (none: the theory is silent). A cell's
verdict is its claims' verdicts read as a theory's: a prediction "reproduced" is *explained*, one
"not reproduced" is *contradicted*, a mixture is *partly explained*. Every phenomenon also names the
claims that measure it (``Phenomenon.measured_by``), so that a silent cell still shows what our
models do.

The claims registered here are the ones no chapter makes: predictions of one paper tested on
another chapter's models (Bayes on the classification models' biases), and the testbed's
measurements (``testbed-analysis-cpu``: every lens on the task-diversity sweep of the
kernel-regression corpus). Their thresholds are fixed by what the theory predicts (zero, the exact
predictor's own value, a change larger than the sampling noise), before the results were read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..experiments.kernel_regression import POOL_OF_KERNEL_HMM, POOL_SIZES, pool_artifact
from ..papers import PaperValue
from . import REGISTRY, ClaimSpec, at_least, at_most, register
from .kernel_regression import own_model_gain

TESTBED = "testbed-analysis-cpu"
OWN = pool_artifact(POOL_OF_KERNEL_HMM)           # the testbed's reference model: M = 3, the kernel chapter's


@dataclass(frozen=True)
class Theory:
    key: str
    title: str
    cite: str


@dataclass(frozen=True)
class Phenomenon:
    key: str
    title: str
    measured_by: tuple[str, ...]   # claims that measure it on our models, whatever the theories say


@dataclass(frozen=True)
class Lens:
    phenomenon: str
    theory: str
    prediction: str                # what the theory predicts, in the book's words ("" when silent)
    where: str = ""                # where in the paper the prediction comes from
    claims: tuple[str, ...] = ()   # registered claims whose statement is the prediction
    against: tuple[str, ...] = ()  # registered claims whose statement is its opposite (reproduced: contradicted)

    @property
    def silent(self) -> bool:
        return not (self.claims or self.against)


THEORIES = (Theory("segmentation", "Segmentation and retrieval", "abernethy2024mechanism"),
            Theory("kernel", "Kernel regression", "han2025kernel"),
            Theory("bayes", "Latent-concept Bayes", "xie2022explanation"),
            Theory("spinglass", "Spin glass, task diversity", "li2025spinglass"),
            Theory("two_tower", "Two towers", "yu2024twotowers"))


# ---- what the testbed analysis measured ----------------------------------------------------------

def _bed(r: dict, name: str = OWN) -> dict:
    return r["evaluation"]["models"][name]


def order_spread(r: dict, name: str = OWN) -> float:
    """Mean over sets of four demonstrations of the spread (max − min) of a testbed model's accuracy
    over their 24 orders, the same tests after each."""
    return float(np.mean(_bed(r, name)["controls"]["order"]["model_spread"]))


def control_change(r: dict, kind: str, who: str = "model", name: str = OWN) -> float:
    """Accuracy under a control minus on the clean prompts. For the exact predictor, on the prompts it
    can read: a substituted token can make a prompt impossible under every task (no posterior)."""
    c = _bed(r, name)["controls"]
    key = "bayes_on_possible" if who == "bayes" else who
    after = c[kind][key]
    return float("nan") if after is None else after - c["clean"][key]


def beside_bayes(kind: str):
    """|the model's change − the exact predictor's change| under a control."""
    return lambda r: abs(control_change(r, kind) - control_change(r, kind, "bayes"))


def random_label_drop(r: dict, name: str = OWN) -> float:
    return -control_change(r, "random_labels", name=name)


def delimiter_drop(r: dict, mode: str = "missing", name: str = OWN) -> float:
    """Accuracy lost when every demonstration's delimiter is perturbed (``mode``); the exact predictor
    reads the examples at known positions."""
    d = _bed(r, name)["delimiters"]["modes"][mode]["model_accuracy"]
    return d[0]["mean"] - d[-1]["mean"]


def held_out_share(r: dict, name: str = OWN, who: str = "model") -> float:
    """On the held-out concepts: a predictor's accuracy gain from no demonstrations to the most, over
    the gain of the exact predictor that knows those concepts (1: it learns them in context as well)."""
    c = _bed(r, name)["curves"]["held_out"]
    ours, oracle = c[who], c["bayes_oracle"]
    return (ours[-1] - ours[0]) / (oracle[-1] - oracle[0])


def diversity_transfer(r: dict) -> float:
    return held_out_share(r, pool_artifact(max(POOL_SIZES))) - held_out_share(r, pool_artifact(min(POOL_SIZES)))


def first_demonstration(r: dict, name: str = OWN, who: str = "model") -> float:
    """Accuracy with one demonstration minus with none, on prompts of the model's pool."""
    c = _bed(r, name)["curves"]["pool"][who]
    return c[1] - c[0]


# What the explorer and the sweep figure show for each testbed model: (what is measured, the
# model's value, the exact predictor's on the same prompts; None where it has none to compare).
TESTBED_MEASURES = {
    "order": ("accuracy spread over the 24 orders of four demonstrations",
              lambda r, m: (order_spread(r, m), 0.0)),
    "zero_shot": ("accuracy with one demonstration minus with none",
                  lambda r, m: (first_demonstration(r, m), first_demonstration(r, m, "bayes_pool"))),
    "diversity": ("share of the oracle's in-context gain on held-out concepts",
                  lambda r, m: (held_out_share(r, m), held_out_share(r, m, "bayes_pool"))),
    "format": ("accuracy lost when every delimiter is a letter",
               lambda r, m: (delimiter_drop(r, "missing", m), 0.0)),
    "ood": ("accuracy change with 30 % of input tokens substituted",
            lambda r, m: (control_change(r, "substituted_inputs", name=m),
                          control_change(r, "substituted_inputs", "bayes", m))),
    "random_labels": ("accuracy change with random labels",
                      lambda r, m: (control_change(r, "random_labels", name=m),
                                    control_change(r, "random_labels", "bayes", m))),
    "retrieval": ("accuracy change with the most similar demonstrations",
                  lambda r, m: (control_change(r, "retrieved_similar", name=m),
                                control_change(r, "retrieved_similar", "bayes", m))),
}


def testbed_measures(results: dict, name: str) -> dict[str, tuple[str, float, float | None]]:
    """Every testbed phenomenon measured on one testbed model (``TESTBED_MEASURES``)."""
    return {key: (what, *f(results, name)) for key, (what, f) in TESTBED_MEASURES.items()}


def beyond_pool_bayes(r: dict) -> float:
    """With the largest pool, on the held-out concepts: the model's gain minus the gain of the exact
    predictor of its own pretraining distribution (points of accuracy)."""
    c = _bed(r, pool_artifact(max(POOL_SIZES)))["curves"]["held_out"]
    return (c["model"][-1] - c["model"][0]) - (c["bayes_pool"][-1] - c["bayes_pool"][0])


GINC_FIT = ("ginc-4l-cpu", "ginc-12l-cpu", "ginc-16l-cpu", "ginc-lstm-cpu", "ginc-4l-short-cpu")


def loss_orders_accuracy(r: dict, others: dict) -> float:
    """Over the GINC models, the share of pairs whose validation loss and in-context accuracy
    (k = 10, n = 64, V = 150) are in the same order (1: the better fit is always the better in-context
    learner; 1/2: no relation)."""
    accuracy = REGISTRY["ginc.4l-accuracy.cpu"].compute
    runs = [r, *others.values()]
    loss = [x["evaluation"]["val_loss"] for x in runs]
    acc = [accuracy(x) for x in runs]
    pairs = [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    return float(np.mean([(loss[i] - loss[j]) * (acc[i] - acc[j]) < 0 for i, j in pairs]))


def _abs(claim_id: str):
    compute = REGISTRY[claim_id].compute
    return lambda r: abs(compute(r))


# ---- the claims only this chapter makes --------------------------------------------------------

_EXCHANGEABLE = PaperValue(0.0, "0: demonstrations independent given the task make the posterior a product, "
                                "the same in every order", "xie2022explanation", "Sec. 2")
_NO_RECENCY = PaperValue(0.0, "0: the exact predictor of a prompt whose demonstrations are exchangeable has no "
                              "recency", "xie2022explanation", "Sec. 2")
_NO_COUNT_EVIDENCE = PaperValue(0.0, "0: where the counts are no evidence about the query, the posterior "
                                     "ignores them", "xie2022explanation", "Sec. 2")
_AS_EXACT = PaperValue(None, "the change of the exact pretraining predictive on the same prompts",
                       "xie2022explanation", "Sec. 2")
_THRESHOLD = PaperValue(None, "a unique ground state, hence learning of tasks it has not seen, once the "
                              "pretraining tasks are diverse enough", "li2025spinglass", "the zero modes")
_POOL_BAYES = PaperValue(None, "the pretraining posterior: no gain on concepts outside the pretraining mixture "
                               "beyond what its own concepts give", "xie2022explanation", "Sec. 2")
_FIT = PaperValue(1.0, "a model that fits the pretraining distribution better is closer to the exact "
                       "predictor", "xie2022explanation", "Sec. 2; the model-size experiment")
_SEGMENT = PaperValue(None, "a learner must first find the examples: without delimiters, accuracy falls",
                      "abernethy2024mechanism", "abstract")
_VOTE = PaperValue(None, "the label one-hots are the values of the vote: random labels are voted for",
                   "han2025kernel", "the attention analogy")

SPECS = [
    ClaimSpec("synthesis.order-invariance.cpu", "synthesis",
              "Exchangeable demonstrations: the testbed model's accuracy spread (max − min) over the 24 orders "
              "of the same four demonstrations, mean over 20 sets (the exact predictor's is 0)",
              _EXCHANGEABLE, "cpu", TESTBED, order_spread, at_most(0.02, 0.05),
              passes=0.0, fails=(0.16, "a model whose answers move with order as the GINC 4-layer model's do")),
    ClaimSpec("synthesis.no-recency.cpu", "synthesis",
              "No recency: |p(A)/(p(A) + p(B))| with every A demonstration last minus every A first, on the "
              "classification model's ambiguous queries",
              _NO_RECENCY, "cpu", "classify-analysis-cpu", _abs("locate.recency-bias.cpu"), at_most(0.02, 0.05),
              passes=0.0, fails=(0.1, "a model that weighs later demonstrations more")),
    ClaimSpec("synthesis.no-count-bias.cpu", "synthesis",
              "Counts that are no evidence move no posterior: |majority-label bias| of the classification model "
              "trained with the query's class independent of the counts",
              _NO_COUNT_EVIDENCE, "cpu", "classify-analysis-cpu", _abs("locate.independent-majority-bias.cpu"),
              at_most(0.05, 0.1), passes=0.0, fails=(0.3, "a vote that counts the labels")),
    ClaimSpec("synthesis.ood-as-bayes.cpu", "synthesis",
              "Out-of-distribution demonstrations (30 % of input tokens substituted) cost the testbed model what "
              "they cost the exact predictor on the prompts it can still read: |model change − exact change|",
              _AS_EXACT, "cpu", TESTBED, beside_bayes("substituted_inputs"), at_most(0.05, 0.1),
              passes=0.0, fails=(0.2, "a model that loses far more than the evidence it lost")),
    ClaimSpec("synthesis.random-labels-as-bayes.cpu", "synthesis",
              "Random labels cost the testbed model what they cost the exact predictor: |model change − exact change|",
              _AS_EXACT, "cpu", TESTBED, beside_bayes("random_labels"), at_most(0.05, 0.1),
              passes=0.0, fails=(0.2, "a model that ignores the labels the exact predictor reads")),
    ClaimSpec("synthesis.random-labels-hurt.cpu", "synthesis",
              "Random labels are voted for: the testbed model's accuracy lost when the demonstrations' labels are "
              "replaced by random letters",
              _VOTE, "cpu", TESTBED, random_label_drop, at_least(0.05, 0.02),
              passes=0.2, fails=(0.0, "a model that reads only the inputs")),
    ClaimSpec("synthesis.retrieval-as-bayes.cpu", "synthesis",
              "Retrieving the demonstrations most similar to the test input changes the testbed model's accuracy "
              "as it changes the exact predictor's: |model gain − exact gain|",
              _AS_EXACT, "cpu", TESTBED, beside_bayes("retrieved_similar"), at_most(0.05, 0.1),
              passes=0.0, fails=(0.2, "a model that gains nothing where the evidence gains much")),
    ClaimSpec("synthesis.missing-delimiters.cpu", "synthesis",
              "Without delimiters a learner must find the examples itself: the testbed model's accuracy lost when "
              "every demonstration's delimiter is a letter (the exact predictor, reading known positions, loses "
              "nothing)",
              _SEGMENT, "cpu", TESTBED, delimiter_drop, at_least(0.05, 0.02),
              passes=0.2, fails=(0.0, "a model that reads the examples by position alone")),
    ClaimSpec("synthesis.diversity-transfer.cpu", "synthesis",
              f"Task diversity: on concepts in no pool, the share of the oracle's in-context gain the model "
              f"reaches, pretrained on {max(POOL_SIZES)} concepts minus on {min(POOL_SIZES)}",
              _THRESHOLD, "cpu", TESTBED, diversity_transfer, at_least(0.3, 0.1),
              passes=0.6, fails=(0.0, "models that learn unseen concepts no better for a larger pool")),
    ClaimSpec("synthesis.follows-pool-bayes.cpu", "synthesis",
              f"Pretrained on {max(POOL_SIZES)} concepts, the model gains on unseen concepts no more than the exact "
              f"predictor of its pretraining distribution: model gain minus that predictor's (accuracy)",
              _POOL_BAYES, "cpu", TESTBED, beyond_pool_bayes, at_most(0.05, 0.1),
              passes=0.0, fails=(0.3, "a model that learns the unseen concepts as the oracle does")),
    ClaimSpec("synthesis.fit-orders-icl.cpu", "synthesis",
              "The better fit learns better in context: share of pairs of the GINC models (4, 12, 16 layers, the "
              "LSTM, the 4-layer model at the deep ones' budget) whose validation loss and accuracy (k = 10, "
              "n = 64) are in the same order",
              _FIT, "cpu", GINC_FIT[0], loss_orders_accuracy, at_least(0.8, 0.6), also=GINC_FIT[1:],
              passes=1.0, fails=(0.5, "in-context accuracy unrelated to the fit")),
]

# Two lenses read inside the testbed's reference model (the others' cells rest on behaviour).
_VOTE_HEAD = PaperValue(None, "an attention head whose weights act as kernel weights: its vote predicts the "
                              "model's output", "han2025kernel", "the attention analogy")
_LOCATED = PaperValue(None, "a few in-context heads carry the answer: zeroing them hurts more than zeroing "
                            "others", "yu2024twotowers", "the causal check")


def vote_over_uniform(r: dict, name: str = OWN) -> float:
    k = _bed(r, name)["kernel"]
    return k["best_head"]["agreement"] - k["majority_vote_agreement"]


def located_over_random(r: dict, name: str = OWN) -> float:
    loc = _bed(r, name)["locate"]
    return loc["random_ablated_accuracy"] - loc["ablated_accuracy"]


SPECS += [
    ClaimSpec("synthesis.testbed-vote.cpu", "synthesis",
              "On the testbed, the best head's kernel vote (selected on held-out prompts) agrees with the model more "
              "often than a vote with uniform attention does: agreement minus uniform attention's",
              _VOTE_HEAD, "cpu", TESTBED, vote_over_uniform, at_least(0.1, 0.05),
              passes=0.2, fails=(0.0, "a head that attends evenly")),
    ClaimSpec("synthesis.testbed-located-heads.cpu", "synthesis",
              "On the testbed, zeroing the located in-context heads costs more accuracy than zeroing as many random "
              "heads: random sets' accuracy (mean of 20) minus the located set's",
              _LOCATED, "cpu", TESTBED, located_over_random, at_least(0.05, 0.02),
              passes=0.3, fails=(0.0, "located heads no more important than any")),
]

# Every model of the testbed learns in context (the premise of every cell measured on it).
_LEARNS = PaperValue(None, "in-context predictions approach the exact ones as demonstrations accumulate",
                     "han2025kernel", "Sec. 3, Theorem 1")
SPECS += [ClaimSpec(f"synthesis.pool-m{M}-learns.cpu", "synthesis",
                    f"Pretrained on {M} concept{'s' * (M > 1)}, the testbed model learns in context: its accuracy gain "
                    f"from no demonstrations to the most over the exact predictor's, on prompts of its pool",
                    _LEARNS, "cpu", pool_artifact(M), own_model_gain, at_least(0.8, 0.5),
                    passes=1.0, fails=(0.0, "a model that ignores the demonstrations"))
          for M in POOL_SIZES if M != POOL_OF_KERNEL_HMM]

# The trained models each claim's value rests on (every testbed measurement reads the reference model
# unless it compares pools; the classification claims read the classifier of their prior).
_READS = {"synthesis.no-recency.cpu": ("classify-proportional-cpu",),
          "synthesis.no-count-bias.cpu": ("classify-independent-cpu",),
          "synthesis.diversity-transfer.cpu": (pool_artifact(max(POOL_SIZES)), pool_artifact(min(POOL_SIZES))),
          "synthesis.follows-pool-bayes.cpu": (pool_artifact(max(POOL_SIZES)),),
          "synthesis.fit-orders-icl.cpu": GINC_FIT,
          **{f"synthesis.pool-m{M}-learns.cpu": (pool_artifact(M),) for M in POOL_SIZES}}
SPECS = [replace(s, reads=_READS.get(s.id, (OWN,))) for s in SPECS]

for _spec in SPECS:
    register(_spec)
for _spec in SPECS[-len(POOL_SIZES) + 1:]:   # the sweep's paper profiles: "not run" until a GPU trains them
    register(_spec.at("paper"))


# ---- the table ----------------------------------------------------------------------------------

PHENOMENA = (
    Phenomenon("order", "Sensitivity to example order",
               ("synthesis.order-invariance.cpu", "ginc.order-spread-4l.cpu", "kernel_regression.order.cpu")),
    Phenomenon("majority", "Majority-label bias", ("locate.majority-bias.cpu", "locate.independent-majority-bias.cpu")),
    Phenomenon("recency", "Recency bias", ("locate.recency-bias.cpu",)),
    Phenomenon("zero_shot", "Zero-shot beating few-shot", ("ginc.low-temp-dip.cpu", "ginc.low-temp-recovery.cpu")),
    Phenomenon("scale", "Scale and the fit to pretraining", ("synthesis.fit-orders-icl.cpu",)),
    Phenomenon("diversity", "A task-diversity threshold",
               ("synthesis.diversity-transfer.cpu", "taskdiv.m4-follows-dmmse.cpu", "taskdiv.m16-follows-ridge.cpu")),
    Phenomenon("format", "Prompt format and delimiters",
               ("synthesis.missing-delimiters.cpu", "retrieval.segmentation-is-hard.cpu")),
    Phenomenon("ood", "Out-of-distribution demonstrations", ("kernel_regression.ood.cpu", "ginc.unseen-4l.cpu")),
    Phenomenon("random_labels", "Random-label demonstrations", ("synthesis.random-labels-hurt.cpu",)),
    Phenomenon("retrieval", "Retrieving similar demonstrations", ("kernel_regression.retrieval.cpu",)),
)

_SILENT = ""
LENSES = (
    # order
    Lens("order", "segmentation", _SILENT),
    Lens("order", "kernel", "none: a kernel-weighted vote is a sum over demonstrations", "its acknowledged limits",
         ("synthesis.order-invariance.cpu",), against=("kernel_regression.order.cpu",)),
    Lens("order", "bayes", "none where demonstrations are independent given the concept", "Sec. 2, the in-context predictor",
         ("synthesis.order-invariance.cpu",)),
    Lens("order", "spinglass", "none: linear attention reads the prompt through Z Zᵀ, a sum over tokens", "the model",
         ("synthesis.order-invariance.cpu",)),
    Lens("order", "two_tower", "some, through recency: later positions get larger attention scores", "abstract",
         ("locate.recency-bias.cpu",)),
    # majority
    Lens("majority", "segmentation", _SILENT),
    Lens("majority", "kernel", "yes: with similar inputs the vote counts the labels", "the attention analogy",
         ("locate.majority-bias.cpu", "locate.independent-majority-bias.cpu")),
    Lens("majority", "bayes", "only where the counts are evidence about the query", "Sec. 2, the in-context predictor",
         ("synthesis.no-count-bias.cpu",)),
    Lens("majority", "spinglass", _SILENT),
    Lens("majority", "two_tower", "yes: more positions of a label, more attention on it", "abstract",
         ("locate.majority-bias.cpu", "locate.independent-majority-bias.cpu", "locate.majority-reduction.cpu")),
    # recency
    Lens("recency", "segmentation", _SILENT),
    Lens("recency", "kernel", "none: the vote does not see positions", "the attention analogy", ("synthesis.no-recency.cpu",)),
    Lens("recency", "bayes", "none for exchangeable demonstrations", "Sec. 2, the in-context predictor", ("synthesis.no-recency.cpu",)),
    Lens("recency", "spinglass", "none: a sum over tokens", "the model", ("synthesis.no-recency.cpu",)),
    Lens("recency", "two_tower", "yes: later positions get larger scores", "abstract", ("locate.recency-bias.cpu",)),
    # zero-shot
    Lens("zero_shot", "segmentation", _SILENT),
    Lens("zero_shot", "kernel", _SILENT),
    Lens("zero_shot", "bayes", "yes, where the demonstrations' transitions are unlikely under the prompt "
                               "distribution; more examples then recover", "the zero-shot experiment",
         ("ginc.low-temp-dip.cpu", "ginc.low-temp-recovery.cpu")),
    Lens("zero_shot", "spinglass", "yes, below the diversity threshold: training leaves weights that predict worse "
                                   "than predicting zero", "Fig. 2",
         ("spinglass.few-tasks-worse-than-zero.cpu",)),
    Lens("zero_shot", "two_tower", _SILENT),
    # scale
    Lens("scale", "segmentation", _SILENT),
    Lens("scale", "kernel", _SILENT),
    Lens("scale", "bayes", "in-context accuracy follows the fit to the pretraining distribution; at equal loss, "
                           "no gain from size (the paper's larger models gain: unexplained)", "the model-size experiment",
         ("synthesis.fit-orders-icl.cpu",)),
    Lens("scale", "spinglass", _SILENT),
    Lens("scale", "two_tower", _SILENT),
    # diversity
    Lens("diversity", "segmentation", _SILENT),
    Lens("diversity", "kernel", _SILENT),
    Lens("diversity", "bayes", "none: the in-context predictor is the posterior over the pretraining concepts, "
                               "however many", "Sec. 2, the in-context predictor",
         ("synthesis.follows-pool-bayes.cpu", "ginc.unseen-4l.cpu", "taskdiv.m4-follows-dmmse.cpu"),
         against=("taskdiv.m16-follows-ridge.cpu",)),
    Lens("diversity", "spinglass", "yes: past a number of tasks the ground state is unique and generalises",
         "the zero modes", ("synthesis.diversity-transfer.cpu", "taskdiv.m16-follows-ridge.cpu", "taskdiv.m64-follows-ridge.cpu")),
    Lens("diversity", "two_tower", _SILENT),
    # format
    Lens("format", "segmentation", "yes: segmentation is the hard part; ambiguous or missing delimiters cost "
                                   "examples", "abstract",
         ("synthesis.missing-delimiters.cpu", "retrieval.segmentation-is-hard.cpu")),
    Lens("format", "kernel", _SILENT),
    Lens("format", "bayes", "yes: delimiters unlike pretraining's add to the ε_delim of Condition 1", "Condition 1",
         ("synthesis.missing-delimiters.cpu",)),
    Lens("format", "spinglass", _SILENT),
    Lens("format", "two_tower", _SILENT),
    # out of distribution
    Lens("ood", "segmentation", _SILENT),
    Lens("ood", "kernel", "they hurt: the pretraining-bias term grows", "Theorem 1's bias term", ("kernel_regression.ood.cpu",)),
    Lens("ood", "bayes", "they cost what they cost the exact predictor; unseen concepts are not learned", "Sec. 2; the unseen-concept experiment",
         ("synthesis.ood-as-bayes.cpu", "ginc.unseen-4l.cpu")),
    Lens("ood", "spinglass", _SILENT),
    Lens("ood", "two_tower", _SILENT),
    # random labels
    Lens("random_labels", "segmentation", _SILENT),
    Lens("random_labels", "kernel", "they hurt: labels are the values of the vote (the paper reports mixed "
                                    "evidence)", "the attention analogy; its acknowledged limits", ("synthesis.random-labels-hurt.cpu",)),
    Lens("random_labels", "bayes", "they cost what they cost the exact predictor: the inputs still carry the "
                                   "concept", "Sec. 2, the in-context predictor", ("synthesis.random-labels-as-bayes.cpu",)),
    Lens("random_labels", "spinglass", _SILENT),
    Lens("random_labels", "two_tower", "they hurt: the value-output projects each position's label",
         "the value-output projection", ("synthesis.random-labels-hurt.cpu",)),
    # retrieval
    Lens("retrieval", "segmentation", _SILENT),
    Lens("retrieval", "kernel", "it helps: a smaller bandwidth", "the insights it draws", ("kernel_regression.retrieval.cpu",)),
    Lens("retrieval", "bayes", "it helps as much as it helps the exact predictor", "Sec. 2, the in-context predictor",
         ("synthesis.retrieval-as-bayes.cpu",)),
    Lens("retrieval", "spinglass", _SILENT),
    Lens("retrieval", "two_tower", "it helps: the query-key metric gives similar demonstrations more attention",
         "the two-tower hypothesis", ("kernel_regression.retrieval.cpu",)),
)

CELL_VERDICTS = ("explained", "partly explained", "contradicted", "silent", "not reached", "not run")
_AS_CELL = {"reproduced": "explained", "partly": "partly explained", "not reproduced": "contradicted"}
_OPPOSITE = {"reproduced": "not reproduced", "not reproduced": "reproduced", "partly": "partly", "not run": "not run",
             "not reached": "not reached"}
# Verdicts that are no evidence about a theory: the artifact is absent, or its model is short of its regime.
_NO_EVIDENCE = ("not run", "not reached")


def cell_verdict(claim_verdicts: list[str]) -> str:
    """A cell's verdict from its claims' verdicts: all reproduced → explained, none → contradicted,
    otherwise partly explained. Claims not run, and claims on models short of their regime ("not
    reached"), are no evidence and are left out: a cell with none left is "not reached" if any of its
    claims is, else "not run" (no claims at all: silent)."""
    if not claim_verdicts:
        return "silent"
    run = [v for v in claim_verdicts if v not in _NO_EVIDENCE]
    if not run:
        return "not reached" if "not reached" in claim_verdicts else "not run"
    cells = {_AS_CELL[v] for v in run}
    return cells.pop() if cells in ({"explained"}, {"contradicted"}) else "partly explained"


@dataclass(frozen=True)
class Cell:
    phenomenon: str
    theory: str
    prediction: str
    verdict: str
    claims: tuple          # the evaluated claims that state the prediction
    against: tuple         # the evaluated claims that state its opposite
    measured: tuple        # the evaluated claims that measure the phenomenon


def table(store=None) -> list[Cell]:
    """Every cell of the phenomenon × theory table, in ``PHENOMENA`` × ``THEORIES`` order, each with its
    verdict computed from its claims on ``store``."""
    from . import evaluate

    cache: dict = {}

    def claim(cid):
        if cid not in cache:
            cache[cid] = evaluate(cid, store)
        return cache[cid]

    lenses = {(c.phenomenon, c.theory): c for c in LENSES}
    out = []
    for ph in PHENOMENA:
        measured = tuple(claim(cid) for cid in ph.measured_by)
        for th in THEORIES:
            lens = lenses[ph.key, th.key]
            tested, against = tuple(claim(cid) for cid in lens.claims), tuple(claim(cid) for cid in lens.against)
            verdicts = [c.verdict for c in tested] + [_OPPOSITE[c.verdict] for c in against]
            out.append(Cell(ph.key, th.key, lens.prediction or "silent", cell_verdict(verdicts), tested, against,
                            measured))
    return out


def unexplained(cells: list[Cell]) -> list[str]:
    """The phenomena whose measured behaviour no theory explains: no cell of the row is explained
    (a row with every theory silent counts too)."""
    return [ph.key for ph in PHENOMENA
            if not any(c.verdict == "explained" for c in cells if c.phenomenon == ph.key)]
