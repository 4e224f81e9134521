"""The scorecard: every headline result of the book, our value beside the paper's.

A claim is declared once, here, with the rule that computes our value from an artifact and
the thresholds that turn it into a verdict. The thresholds are fixed when the claim is
written, before the result is seen; they are never tuned to agree. Chapters show claims
(``evaluate``) and the appendix renders them all (``scorecard``); both compute from the same
verified artifacts, so the prose and the scorecard cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from .artifacts import ArtifactError, ArtifactStore
from .papers import GARG_2022, PaperValue, ginc_curves

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")


@dataclass(frozen=True)
class Claim:
    id: str
    chapter: str
    statement: str
    ours: float | None
    paper: str
    paper_value: float | None
    profile: str
    verdict: str
    source: str        # the artifact our value comes from
    detail: str = ""   # why a claim was not run, or how our setting differs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    chapter: str
    statement: str
    paper: PaperValue
    profile: str
    source: str
    compute: Callable[[dict], float]   # artifact results -> our value
    judge: Callable[[float], str]      # our value -> verdict

    def evaluate(self, store: ArtifactStore | None = None) -> Claim:
        store = store or ArtifactStore()
        common = dict(id=self.id, chapter=self.chapter, statement=self.statement, paper=str(self.paper),
                      paper_value=self.paper.value, profile=self.profile, source=self.source)
        try:
            results = store.results(self.source)
        except ArtifactError as e:
            return Claim(ours=None, verdict="not run", detail=str(e), **common)
        value = float(self.compute(results))
        verdict = self.judge(value)
        assert verdict in VERDICTS, verdict
        return Claim(ours=value, verdict=verdict, detail=results.get("note", ""), **common)


def at_most(reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for an error-like value: small is good."""
    return lambda v: "reproduced" if v <= reproduced else "partly" if v <= partly else "not reproduced"


def within(lo: float, hi: float, slack: float) -> Callable[[float], str]:
    """Verdict for a value the paper gives as a range: inside, within ``slack`` of it, or off."""
    return lambda v: ("reproduced" if lo <= v <= hi else
                      "partly" if lo - slack <= v <= hi + slack else "not reproduced")


REGISTRY: dict[str, ClaimSpec] = {}


def register(spec: ClaimSpec) -> ClaimSpec:
    if spec.id in REGISTRY:
        raise ValueError(f"claim {spec.id!r} registered twice")
    REGISTRY[spec.id] = spec
    return spec


# ---- chapter 0: in-context linear regression ----------------------------------------------

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
        compute=lambda r: _curve_at(r, "transformer", _two_d(r)), judge=at_most(0.05, 0.2)))

register(ClaimSpec(
    id="ch0.follows-bayes", chapter="ch0",
    statement="With fewer examples than dimensions, the transformer follows the Bayes-optimal "
              "(minimum-norm) predictor: the largest gap between their normalised errors for n ≤ d.",
    paper=GARG_2022["transformer_vs_least_squares"], profile="cpu", source="linreg-cpu",
    compute=_max_gap_below_d, judge=at_most(0.05, 0.15)))

register(ClaimSpec(
    id="ch0.knn-at-2d", chapter="ch0",
    statement="With 2d examples, 3-nearest-neighbours stays far from least squares.",
    paper=GARG_2022["knn_error_at_2d"], profile="cpu", source="linreg-cpu",
    compute=lambda r: _curve_at(r, "nearest_neighbours", _two_d(r)), judge=within(0.6, 1.0, 0.2)))


# ---- the GINC chapter (Xie et al. 2022) ------------------------------------------------------

def close_to(target: float, reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for a value the paper reports: within ``reproduced`` of it, within ``partly``, or off."""
    return lambda v: ("reproduced" if abs(v - target) <= reproduced else
                      "partly" if abs(v - target) <= partly else "not reproduced")


def _ginc_accuracy(results: dict, k: int, n: int) -> float:
    grid = results["evaluation"]["accuracy"]
    value = grid["model"][grid["k"].index(k)][grid["n"].index(n)]
    if value is None:
        raise ValueError(f"no accuracy at k = {k}, n = {n}: the prompt exceeds the model's context")
    return 100 * value


_GINC_MODELS = {"4l": ("4L", "the 4-layer transformer"), "12l": ("12L", "the 12-layer transformer"),
                "16l": ("16L", "the 16-layer transformer"), "lstm": ("LSTM", "the LSTM")}

# The cpu profile trains on the paper's V = 150 corpus, the paper profile on V = 50: each is
# compared with the paper's curve at its own vocabulary size.
_GINC_VOCAB = {"cpu": 150, "paper": 50}

for _key, (_paper_name, _label) in _GINC_MODELS.items():
    for _profile, _v in _GINC_VOCAB.items():
        _mean, _ci = ginc_curves()[(_paper_name, _v, 10)][64]
        register(ClaimSpec(
            id=f"ginc.{_key}-accuracy.{_profile}", chapter="ginc",
            statement=f"In-context accuracy (%) of {_label} on GINC (V = {_v}) at k = 10, n = 64.",
            paper=PaperValue(_mean, f"{_mean} ± {_ci} over 5 seeds", "xie2022explanation", f"GINC curves, V = {_v}"),
            profile=_profile, source=f"ginc-{_key}-{_profile}",
            compute=lambda r: _ginc_accuracy(r, 10, 64), judge=close_to(_mean, max(_ci, 5.0), 15.0)))
    _mean, _zero = ginc_curves()[(_paper_name, 150, 10)][64][0], ginc_curves()[(_paper_name, 150, 10)][0][0]
    register(ClaimSpec(
        id=f"ginc.{_key}-gain.cpu", chapter="ginc",
        statement=f"Accuracy of {_label} rises with the number of examples: points gained from n = 0 to "
                  f"n = 64 at k = 10 (V = 150).",
        paper=PaperValue(round(_mean - _zero, 1), f"{_mean - _zero:+.1f} points ({_zero} → {_mean})",
                         "xie2022explanation", "GINC curves, V = 150"),
        profile="cpu", source=f"ginc-{_key}-cpu",
        compute=lambda r: _ginc_accuracy(r, 10, 64) - _ginc_accuracy(r, 10, 0),
        judge=lambda v, target=_mean - _zero: ("reproduced" if v >= target / 2 and v > 0 else
                                               "partly" if v > 0 else "not reproduced")))


def evaluate(claim_id: str, store: ArtifactStore | None = None) -> Claim:
    if claim_id not in REGISTRY:
        raise KeyError(f"no claim {claim_id!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[claim_id].evaluate(store)


def scorecard(store: ArtifactStore | None = None, chapter: str | None = None) -> list[Claim]:
    store = store or ArtifactStore()
    return [spec.evaluate(store) for spec in REGISTRY.values() if chapter in (None, spec.chapter)]


def markdown_table(chapter: str | None = None, store: ArtifactStore | None = None, with_ids: bool = False) -> str:
    """The scorecard (or one chapter's part of it) as a Markdown table, as the book shows it."""
    rows = ["| claim | profile | ours | paper | verdict |", "|---|---|---|---|---|"]
    for c in scorecard(store, chapter):
        ours = "—" if c.ours is None else f"{c.ours:.3g}"
        claim = f"{c.statement}<br><small>`{c.id}`</small>" if with_ids else c.statement
        rows.append(f"| {claim} | {c.profile} | {ours} | {c.paper} | **{c.verdict}** |")
    return "\n".join(rows)
