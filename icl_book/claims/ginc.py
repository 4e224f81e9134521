"""The GINC chapter (Xie et al. 2022).

What the theory predicts is that a language model fit to the pretraining mixture predicts as the
exact pretraining posterior predictive; the paper's curves show trained models' accuracy. So each
trained model is scored three ways: against the paper's accuracy; by its gap to the exact
predictor on the same prompts; and, where the exact predictor itself gains with examples, by the
share of that gain the model makes. (On the released code's HMMs at V = 150 the exact predictor is
already right with no examples for k >= 8: a model's rising curve there measures how imperfectly it
learned the pretraining distribution, not inference, so a gain is not scored where the exact
predictor has none to make.)

Noise: a cell averages ``n_prompts`` prompts; a difference of two cells has the binomial standard
error ``_se_diff``; rules about a difference use its interval, never the bare difference.
"""

from __future__ import annotations

import math

from ..papers import XIE_2022, PaperValue, ginc_accuracy, ginc_curves, ginc_range
from . import ClaimSpec, above, at_most, below, close_to, register, within

# ---- reading an artifact ----------------------------------------------------------------------------

def _grid_of(results: dict) -> dict:
    return results["evaluation"]["accuracy"] if "evaluation" in results else results


def _cell(results: dict, k: int, n: int, key: str = "model") -> float:
    grid = _grid_of(results)
    value = grid[key][grid["k"].index(k)][grid["n"].index(n)]
    if value is None:
        raise ValueError(f"no {key} accuracy at k = {k}, n = {n}: the prompt exceeds the model's context")
    return 100 * value


def _ginc_accuracy(results: dict, k: int, n: int) -> float:
    return _cell(results, k, n)


def _se_diff(p1: float, p2: float, n_prompts: int) -> float:
    """Standard error (points) of the difference of two accuracies (%) on ``n_prompts`` prompts each."""
    a, b = p1 / 100, p2 / 100
    return 100 * math.sqrt((a * (1 - a) + b * (1 - b)) / n_prompts)


def _gap_to_exact(results: dict, k: int = 10, n: int = 64) -> float:
    """Points by which the model falls short of the exact predictor on the same prompts."""
    return _cell(results, k, n, "bayes") - _cell(results, k, n)


def _exact_gain_k(results: dict) -> int:
    """The example length at which the exact predictor gains most from n = 0 to the largest n."""
    grid = _grid_of(results)
    gains = [row[-1] - row[0] for row in grid["bayes"]]
    return grid["k"][max(range(len(gains)), key=gains.__getitem__)]


def _share_of_exact_gain(results: dict) -> float:
    """At the k where the exact predictor gains most from n = 0 to the largest n: the model's gain
    over the same prompts as a share of the exact predictor's (1: all of it, 0: none)."""
    grid = _grid_of(results)
    k, n_max = _exact_gain_k(results), grid["n"][-1]
    exact = _cell(results, k, n_max, "bayes") - _cell(results, k, 0, "bayes")
    return (_cell(results, k, n_max) - _cell(results, k, 0)) / exact


# ---- the model comparison -----------------------------------------------------------------------------

_GINC_MODELS = {"4l": ("4L", "the 4-layer transformer"), "12l": ("12L", "the 12-layer transformer"),
                "16l": ("16L", "the 16-layer transformer"), "lstm": ("LSTM", "the LSTM"),
                # the 4-layer model at the deep models' cpu budget: compared with the paper's 4L
                "4l-short": ("4L", "the 4-layer transformer at the deep models' budget")}

# The cpu profile trains on the paper's V = 150 corpus, the paper profile on V = 50: each is
# compared with the paper's curve at its own vocabulary size. ginc-4l-short has no paper profile.
_GINC_VOCAB = {"cpu": 150, "paper": 50}

_UNDERTRAINED = 25.0   # points below the paper: as far as our deep models at a third of the budget fell

_FOLLOWS = XIE_2022["follows_predictive"]
# the gap to the exact predictor: within 5 points (about two standard errors of a 500-prompt cell
# near 90 %) reproduces the theory's premise, within 15 partly
_gap_judge = at_most(5.0, 15.0)
# the share of the exact predictor's gain: half of it or more; partly from 0.2 (the 95 % noise of a
# difference of two 500-prompt cells is about 6 points, a fifth of a 30-point gain)
_share_judge = above(0.5, 0.2)

for _key, (_paper_name, _label) in _GINC_MODELS.items():
    for _profile, _v in _GINC_VOCAB.items():
        if _key == "4l-short" and _profile == "paper":
            continue
        _paper = ginc_accuracy(_paper_name, _v, 10, 64)
        _source = f"ginc-{_key}-{_profile}"
        register(ClaimSpec(
            id=f"ginc.{_key}-accuracy.{_profile}", chapter="ginc",
            statement=f"In-context accuracy (%) of {_label} on GINC (V = {_v}) at k = 10, n = 64.",
            paper=_paper, profile=_profile, source=_source,
            # within the paper's CI (at least 5 points: ours averages fewer prompts), partly within 15
            compute=lambda r: _ginc_accuracy(r, 10, 64), judge=close_to(_paper, max(_paper.spread, 5.0), 15.0),
            reads=(_source,), passes=_paper.value, fails=(_paper.value - _UNDERTRAINED, "an undertrained model, 25 points below the "
                                                                      "paper's")))
        register(ClaimSpec(
            id=f"ginc.{_key}-gap.{_profile}", chapter="ginc",
            statement=f"{_label[0].upper() + _label[1:]} predicts as the exact pretraining predictive: points by "
                      f"which its accuracy falls short of the exact predictor's on the same prompts "
                      f"(k = 10, n = 64, V = {_v}).",
            paper=_FOLLOWS, profile=_profile, source=_source, compute=_gap_to_exact, judge=_gap_judge,
            reads=(_source,), passes=2.0, fails=(30.0, "an undertrained model, right on 70 % where the exact predictor is right on "
                                     "all: the 4-layer model at cpu scale")))
        register(ClaimSpec(
            id=f"ginc.{_key}-exact-gain.{_profile}", chapter="ginc",
            statement=f"Where the exact predictor gains with examples (the k at which its accuracy rises most from "
                      f"n = 0 to n = 64, V = {_v}), {_label} gains too: its gain as a share of the exact "
                      f"predictor's on the same prompts.",
            paper=_FOLLOWS, profile=_profile, source=_source, compute=_share_of_exact_gain, judge=_share_judge,
            reads=(_source,), passes=1.0, fails=(0.0, "a model that ignores the examples")))


# ---- analysis of the shipped models -------------------------------------------------------------------

def _grid(results: dict, key: str = "model") -> list[list[float]]:
    return [[100 * v for v in row if v is not None] for row in _grid_of(results)[key]]


def _grid_mean(results: dict) -> float:
    values = [v for row in _grid(results) for v in row]
    return sum(values) / len(values)


def _analysis(results: dict, key: str) -> dict:
    return results["evaluation"][f"ginc-{key}-cpu"]


def _order_spread(results: dict, key: str) -> float:
    spreads = _analysis(results, key)["order"]["model"]["spread"]
    return sum(spreads) / len(spreads)


def _unseen_mean(results: dict, key: str) -> float:
    return _grid_mean(_analysis(results, key)["unseen"]["released_code_unseen"])


def _flat_as_in_the_paper(claim_id: str, statement: str, section: str, source: str, compute, slack: float,
                          vocab: int, profile: str, fails: tuple[float, str], reads: tuple[str, ...]) -> None:
    """A claim that our accuracy sits in the range of one of the paper's flat curves (at ``vocab``)."""
    paper = ginc_range(section, vocab)
    register(ClaimSpec(id=claim_id, chapter="ginc", statement=statement, paper=paper, profile=profile, source=source,
                       compute=compute, judge=within(paper, slack), passes=paper.value, fails=fails, reads=reads))


for _key in ("4l", "lstm"):
    _label = _GINC_MODELS[_key][1]
    register(ClaimSpec(
        id=f"ginc.order-spread-{_key}.cpu", chapter="ginc",
        statement=f"Example order matters: for {_label}, the spread (max − min) of accuracy over the 24 orders "
                  f"of the same 4 examples (k = 10, V = 150), averaged over sets of examples.",
        paper=XIE_2022["order_spread"], profile="cpu", source="ginc-analysis-cpu",
        compute=lambda r, key=_key: _order_spread(r, key), judge=within(XIE_2022["order_spread"], 5.0),
        reads=(f"ginc-{_key}-cpu",), passes=20.0, fails=(0.0, "an order-invariant predictor, as the exact predictor nearly is on these prompts")))
    _flat_as_in_the_paper(
        f"ginc.unseen-{_key}.cpu", f"Prompts from unseen concepts (made as the released code makes them): {_label}'s "
        f"accuracy stays low and flat; mean over every k and n (V = 150).", "4L-unseen-concepts",
        "ginc-analysis-cpu", lambda r, key=_key: _unseen_mean(r, key), slack=5.0, vocab=150, profile="cpu",
        fails=(40.0, "a model that learns an unseen concept in context as it learns a seen one"),
        reads=(f"ginc-{_key}-cpu",))


def _flat_interval(results: dict, bound: float) -> float:
    """How far (points) the 95 % interval of the change of accuracy from n = 0 to the largest n
    stays outside ``[-bound, bound]``, at the k where it is furthest; 0 if every k's interval reaches it."""
    grid = _grid_of(results)
    n_prompts = grid["n_prompts"]
    worst = 0.0
    for row in _grid(results):
        change, half = row[-1] - row[0], 1.96 * _se_diff(row[0], row[-1], n_prompts)
        worst = max(worst, abs(change) - half - bound)
    return worst


_ABLATION_VOCAB = {"cpu": 150, "paper": 50}
for _profile, _v in _ABLATION_VOCAB.items():
    _flat_as_in_the_paper(
        f"ginc.single-concept.{_profile}", f"Pretrained on a single concept, a model cannot learn in context: its "
        f"accuracy, mean over every k and n (V = {_v}).", "4L-single-concept", f"ginc-single-concept-{_profile}",
        _grid_mean, slack=5.0, vocab=_v, profile=_profile,
        fails=(60.0, "a model pretrained on the mixture, which learns in context"),
        reads=(f"ginc-single-concept-{_profile}",))
    # The paper's stated bound: the largest change of its single-concept curves from n = 0 to n = 64.
    _curves = [ginc_curves()[("4L-single-concept", _v, k)] for k in (3, 5, 8, 10)]
    _bound = max(abs(c[64][0] - c[0][0]) for c in _curves)
    register(ClaimSpec(
        id=f"ginc.single-concept-flat.{_profile}", chapter="ginc",
        statement=f"Pretrained on a single concept, accuracy does not grow with examples: how far (points) the "
                  f"95 % interval of our change from n = 0 to n = 64 stays outside the paper's largest change, at "
                  f"the k where it is furthest (0: within it at every k; V = {_v}).",
        paper=PaperValue(_bound, f"changes by at most {_bound:.1f} points from n = 0 to n = 64", "xie2022explanation",
                         f"GINC curves, 4L-single-concept, V = {_v}"),
        profile=_profile, source=f"ginc-single-concept-{_profile}",
        compute=lambda r, b=_bound: _flat_interval(r, b), judge=at_most(0.0, 5.0),
        reads=(f"ginc-single-concept-{_profile}",), passes=0.0, fails=(10.0, "a model that gains with examples: 10 points beyond the bound and its interval, "
                                 "as the mixture-trained LSTM gains at k = 3")))
    _flat_as_in_the_paper(
        f"ginc.random-tokens.{_profile}", f"Pretrained on uniformly random tokens, a model has nothing to infer: its "
        f"accuracy, mean over every k and n (V = {_v}).", "4L-random-tokens", f"ginc-random-tokens-{_profile}",
        _grid_mean, slack=2.0, vocab=_v, profile=_profile,
        fails=(5.0, "a model that predicts better than a uniform guess"), reads=(f"ginc-random-tokens-{_profile}",))


# ---- zero-shot beats few-shot at low temperature -------------------------------------------------------

_DIP_Z = 2.5   # one-sided, Bonferroni over the four k and the two few-shot n at 5 %


def _low_temp_dip(results: dict) -> tuple[float, float]:
    """At the k where accuracy falls furthest below zero-shot with 1 or 2 examples: that fall less
    2.5 standard errors (the k and the n are chosen by the largest fall), and the recovery from the
    few-shot low to n = 64 less 1.96 standard errors; both in points, > 0 where the interval excludes 0."""
    grid = _grid_of(results)
    n_prompts = grid["n_prompts"]
    i1, i2 = grid["n"].index(1), grid["n"].index(2)
    rows = _grid(results)
    falls = [row[0] - min(row[i1], row[i2]) for row in rows]
    best = max(range(len(rows)), key=falls.__getitem__)
    row = rows[best]
    low = min(row[i1], row[i2])
    return (falls[best] - _DIP_Z * _se_diff(row[0], low, n_prompts),
            row[-1] - low - 1.96 * _se_diff(low, row[-1], n_prompts))


for _part, (_which, _statement) in enumerate((
        ("dip", "At transition temperature 0.01, a few examples do worse than none: the largest fall of accuracy "
                "from n = 0 to n = 1 or 2, over k, less 2.5 standard errors (points, V = 100)."),
        ("recovery", "At transition temperature 0.01, more examples recover from the few-shot fall: points gained "
                     "from the n = 1 or 2 low to n = 64 at the k of the largest fall, less 1.96 standard errors "
                     "(V = 100)."))):
    _spec = register(ClaimSpec(
        id=f"ginc.low-temp-{_which}.cpu", chapter="ginc", statement=_statement, paper=XIE_2022["low_temp_dip"],
        profile="cpu", source="ginc-low-temp-cpu", compute=lambda r, part=_part: _low_temp_dip(r)[part],
        # the paper shows the effect but does not size it: an interval above 0 reproduces it
        judge=above(0.0, 0.0), reads=("ginc-low-temp-cpu",), passes=5.0,
        fails=(-2.0, "no effect: a difference inside its noise")))
    register(_spec.at("paper"))


# ---- the paper's own HMMs (R = 100) --------------------------------------------------------------------

def _kl_ratio(results: dict) -> float:
    """The model's KL divergence from the exact predictive per position of held-out documents, as a
    share of the concept-blind reference's (0: the exact predictive; 1: no better than never
    inferring the concept)."""
    docs = results["evaluation"]["documents"]
    return docs["kl_model"]["mean"] / docs["kl_blind"]["mean"]


for _profile in ("cpu", "paper"):
    _source = f"ginc-r100-{_profile}"
    register(ClaimSpec(
        id=f"ginc.r100-kl.{_profile}", chapter="ginc",
        statement="On the paper's HMMs (R = 100, V = 50) the LSTM fits the pretraining distribution: its KL "
                  "divergence from the exact predictive per position of held-out documents, as a share of the "
                  "concept-blind reference's.",
        paper=XIE_2022["fits_pretraining"], profile=_profile, source=_source, compute=_kl_ratio, reads=(_source,),
        # half of the concept's worth of KL recovered reproduces, any part of it partly
        judge=below(0.5, 1.0), passes=0.1,
        fails=(1.0, "the concept-blind plateau: a model that tracks the hidden state but never infers the concept")))
    register(ClaimSpec(
        id=f"ginc.r100-gap.{_profile}", chapter="ginc",
        statement="On the paper's HMMs (R = 100, V = 50) the LSTM predicts as the exact predictive: points by which "
                  "its accuracy falls short of the exact predictor's on the same prompts (k = 10, n = 64).",
        paper=_FOLLOWS, profile=_profile, source=_source, compute=_gap_to_exact, judge=_gap_judge, reads=(_source,),
        passes=2.0, fails=(30.0, "an undertrained model, 30 points below the exact predictor")))
    register(ClaimSpec(
        id=f"ginc.r100-exact-gain.{_profile}", chapter="ginc",
        statement="On the paper's HMMs (R = 100, V = 50), where the exact predictor gains with examples most "
                  "(over k, from n = 0 to n = 64), the LSTM gains too: its gain as a share of the exact predictor's.",
        paper=_FOLLOWS, profile=_profile, source=_source, compute=_share_of_exact_gain, judge=_share_judge,
        reads=(_source,), passes=1.0, fails=(0.0, "a model that ignores the examples")))
