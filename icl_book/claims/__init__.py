"""The scorecard: every headline result of the book, our value beside the paper's.

A claim is declared once, in its chapter's module here, with the rule that computes our value from an artifact and
the thresholds that turn it into a verdict. The thresholds are fixed when the claim is
written, before the result is seen; they are never tuned to agree. Chapters show claims
(``evaluate``) and the appendix renders them all (``scorecard``); both compute from the same
verified artifacts, so the prose and the scorecard cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable

from ..papers import PaperValue
from ..store import ArtifactMissing, ArtifactStore

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
    compute: Callable[..., float]      # artifact results (and its model, with uses_model) -> our value
    judge: Callable[[float], str]      # our value -> verdict
    uses_model: bool = False           # compute(results, model): the value is measured on the weights
    # The rule's own test, written with the claim: a value it must call "reproduced", and a plausible
    # wrong one (chance, the prior's answer, an undertrained model; said in words) it must call
    # "not reproduced". tests/test_claims.py runs both for every registered claim.
    passes: float | None = None
    fails: tuple[float, str] | None = None
    # Further artifacts the value compares across (models of one family): compute(results, {name: results})
    also: tuple[str, ...] = ()

    def at(self, profile: str) -> "ClaimSpec":
        """The same claim on another profile's artifact (``….cpu`` → ``….paper``): the scorecard row a
        GPU run fills in, "not run" until its artifact ships."""
        def swap(text: str, sep: str) -> str:
            suffix = f"{sep}{self.profile}"
            if not text.endswith(suffix):
                raise ValueError(f"claim {self.id!r}: {text!r} does not end with {suffix!r}")
            return text[: -len(suffix)] + f"{sep}{profile}"
        return replace(self, id=swap(self.id, "."), source=swap(self.source, "-"), profile=profile,
                       also=tuple(swap(name, "-") for name in self.also))

    def evaluate(self, store: ArtifactStore | None = None) -> Claim:
        store = store or ArtifactStore()
        common = dict(id=self.id, chapter=self.chapter, statement=self.statement, paper=str(self.paper),
                      paper_value=self.paper.value, profile=self.profile, source=self.source)
        try:
            results = store.results(self.source)
            others = {name: store.results(name) for name in self.also}
        except ArtifactMissing as e:   # absent only: a damaged store raises, it is never a clean scorecard
            return Claim(ours=None, verdict="not run", detail=str(e), **common)
        if self.uses_model:
            value = float(self.compute(results, store.model(self.source)))
        else:
            value = float(self.compute(results, others) if self.also else self.compute(results))
        verdict = self.judge(value)
        assert verdict in VERDICTS, verdict
        if not math.isfinite(value):   # undefined (a reduction of no bias): never a pass, shown as "—", valid JSON
            assert verdict == "not reproduced", (self.id, value, verdict)
            return Claim(ours=None, verdict=verdict, detail=f"our value is undefined ({value}); "
                                                            + results.get("note", ""), **common)
        return Claim(ours=value, verdict=verdict, detail=results.get("note", ""), **common)


# ---- verdict rules ------------------------------------------------------------------------------
#
# A rule is fixed when the claim is written, before the result is seen. Where the paper states a
# number, its spread or its range, the rule reads them from the ``PaperValue`` (never retyped), and
# only the book's tolerance (how many spreads, how much slack) is written at the claim.

def at_most(reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for an error-like value (a gap, a distance): small is good."""
    return lambda v: "reproduced" if v <= reproduced else "partly" if v <= partly else "not reproduced"


def at_least(reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for an effect that must be large enough: ``v >= reproduced``, ``v >= partly``, or off.
    ``partly`` may equal ``reproduced``; then there is no middle verdict."""
    if partly > reproduced:
        raise ValueError(f"at_least needs partly <= reproduced, got {partly} > {reproduced}")
    return lambda v: "reproduced" if v >= reproduced else "partly" if v >= partly else "not reproduced"


def above(reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for a value that must exceed a bound strictly: ``v > reproduced``, ``v > partly``, or off."""
    if partly > reproduced:
        raise ValueError(f"above needs partly <= reproduced, got {partly} > {reproduced}")
    return lambda v: "reproduced" if v > reproduced else "partly" if v > partly else "not reproduced"


def below(reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for a value that must stay under a bound strictly: ``v < reproduced``, ``v < partly``, or off."""
    if partly < reproduced:
        raise ValueError(f"below needs partly >= reproduced, got {partly} < {reproduced}")
    return lambda v: "reproduced" if v < reproduced else "partly" if v < partly else "not reproduced"


def within(paper: PaperValue, slack: float) -> Callable[[float], str]:
    """Verdict for a value the paper gives as a range: inside it, within ``slack`` of it, or off."""
    if paper.low is None:
        raise ValueError(f"within needs a PaperValue with a range (low, high): {paper}")
    lo, hi = paper.low, paper.high
    return lambda v: ("reproduced" if lo <= v <= hi else
                      "partly" if lo - slack <= v <= hi + slack else "not reproduced")


def close_to(paper: PaperValue, reproduced: float, partly: float) -> Callable[[float], str]:
    """Verdict for a value the paper reports: within ``reproduced`` of it, within ``partly``, or off.
    With a stated spread, pass ``spreads(paper, k)`` for k of them."""
    if paper.value is None:
        raise ValueError(f"close_to needs a PaperValue with a value: {paper}")
    if partly < reproduced:
        raise ValueError(f"close_to needs partly >= reproduced, got {partly} < {reproduced}")
    target = paper.value
    return lambda v: ("reproduced" if abs(v - target) <= reproduced else
                      "partly" if abs(v - target) <= partly else "not reproduced")


def spreads(paper: PaperValue, k: float) -> float:
    """``k`` times the spread the paper states for its value."""
    if paper.spread is None:
        raise ValueError(f"no stated spread to scale: {paper}")
    return k * paper.spread


REGISTRY: dict[str, ClaimSpec] = {}


def register(spec: ClaimSpec) -> ClaimSpec:
    if spec.id in REGISTRY:
        raise ValueError(f"claim {spec.id!r} registered twice")
    REGISTRY[spec.id] = spec
    return spec


def evaluate(claim_id: str, store: ArtifactStore | None = None) -> Claim:
    if claim_id not in REGISTRY:
        raise KeyError(f"no claim {claim_id!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[claim_id].evaluate(store)


def scorecard(store: ArtifactStore | None = None, chapter: str | None = None) -> list[Claim]:
    store = store or ArtifactStore()
    return [spec.evaluate(store) for spec in REGISTRY.values() if chapter in (None, spec.chapter)]


def markdown_table(chapter: str | None = None, store: ArtifactStore | None = None, with_ids: bool = False) -> str:
    """The scorecard (or one chapter's part of it) as a Markdown table, as the book shows it."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|")          # a "|" in a statement (1/|C_n|) is not a column

    rows = ["| claim | profile | ours | paper | verdict |", "|---|---|---|---|---|"]
    for c in scorecard(store, chapter):
        ours = "—" if c.ours is None else f"{c.ours:.3g}"
        claim = f"{cell(c.statement)}<br><small>`{c.id}`</small>" if with_ids else cell(c.statement)
        rows.append(f"| {claim} | {c.profile} | {ours} | {cell(c.paper)} | **{c.verdict}** |")
    return "\n".join(rows)


# Each chapter registers its claims when its module is imported, in the book's order.
from . import ch0, ginc, retrieval, spinglass, kernel_regression, locate_project, synthesis  # noqa: E402,F401  (registration is the import)
