"""The scorecard: every headline result of the book, our value beside the paper's.

A claim is declared once, in its chapter's module here, with the rule that computes our value from an artifact and
the thresholds that turn it into a verdict. The thresholds are fixed when the claim is
written, before the result is seen; they are never tuned to agree. Chapters show claims
(``evaluate``) and the appendix renders them all (``scorecard``); both compute from the same
verified artifacts, so the prose and the scorecard cannot disagree.

A claim about a trained model names the models it reads (``ClaimSpec.reads``); each must have
reached the regime its theory describes, as the stored table ``regime-{profile}`` measured it
(``icl_book.analysis.regime``). Where one is short, the verdict is "not reached": our value is
shown, but it is no evidence for or against the theory. Where the table has no measure of the
weights in the store (absent, or the model retrained since), the verdict is "not run".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable

from ..papers import PaperValue
from ..store import ArtifactMissing, ArtifactStore

# "not reached": a model the claim reads is short of the regime its theory describes
# (``icl_book.analysis.regime``), so the claim is evidence neither for nor against the theory.
VERDICTS = ("reproduced", "partly", "not reproduced", "not reached", "not run")
# What the regime table's entry for an artifact says: reached, short, or no measure of these weights.
REGIME_STATUSES = ("reached", "short", "unmeasured")


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
    # The trained artifacts the value rests on, each with its regime: {"artifact", "status" (one of
    # REGIME_STATUSES), "value", "threshold", "units"}; empty for a claim on exact references only.
    reads: tuple = ()

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
    # The trained artifacts (models) the value rests on, read directly or through an analysis artifact:
    # each must have reached its regime (``regime-{profile}``), else the verdict is "not reached". A
    # claim on exact references or baselines alone reads none.
    reads: tuple[str, ...] = ()

    def at(self, profile: str) -> "ClaimSpec":
        """The same claim on another profile's artifact (``….cpu`` → ``….paper``): the scorecard row a
        GPU run fills in, "not run" until its artifact ships."""
        def swap(text: str, sep: str) -> str:
            suffix = f"{sep}{self.profile}"
            if not text.endswith(suffix):
                raise ValueError(f"claim {self.id!r}: {text!r} does not end with {suffix!r}")
            return text[: -len(suffix)] + f"{sep}{profile}"
        return replace(self, id=swap(self.id, "."), source=swap(self.source, "-"), profile=profile,
                       also=tuple(swap(name, "-") for name in self.also),
                       reads=tuple(swap(name, "-") for name in self.reads))

    def evaluate(self, store: ArtifactStore | None = None) -> Claim:
        store = store or ArtifactStore()
        common = dict(id=self.id, chapter=self.chapter, statement=self.statement, paper=str(self.paper),
                      paper_value=self.paper.value, profile=self.profile, source=self.source)
        try:
            results = store.results(self.source)
            others = {name: store.results(name) for name in self.also}
            gate = regime_of(self.reads, self.profile, store)
        except ArtifactMissing as e:   # absent only: a damaged store raises, it is never a clean scorecard
            return Claim(ours=None, verdict="not run", detail=str(e), **common)
        common["reads"] = gate
        short = [g["artifact"] for g in gate if g["status"] == "short"]
        unmeasured = [g["artifact"] for g in gate if g["status"] == "unmeasured"]
        if unmeasured and not short:   # the gate cannot be read: never a verdict on an unknown regime
            return Claim(ours=None, verdict="not run",
                         detail=f"no regime measured for {', '.join(unmeasured)} on the weights in the store "
                                f"(regime-{self.profile}); make it with: icl-book train regime --profile "
                                f"{self.profile}", **common)
        if self.uses_model:
            value = float(self.compute(results, store.model(self.source)))
        else:
            value = float(self.compute(results, others) if self.also else self.compute(results))
        verdict = self.judge(value)
        assert verdict in VERDICTS and verdict != "not reached", verdict
        note = results.get("note", "")
        if short:                      # the value is shown, but it says nothing about the theory
            verdict = "not reached"
            note = (f"short of the regime: {', '.join(short)} (the rule alone would say "
                    f"{self.judge(value)!r}); " + note)
        if not math.isfinite(value):   # undefined (a reduction of no bias): never a pass, shown as "—", valid JSON
            assert verdict in ("not reproduced", "not reached", "not run"), (self.id, value, verdict)
            return Claim(ours=None, verdict=verdict, detail=f"our value is undefined ({value}); " + note, **common)
        return Claim(ours=value, verdict=verdict, detail=note, **common)


def regime_of(names: tuple[str, ...], profile: str, store: ArtifactStore) -> tuple[dict, ...]:
    """The regime of each trained artifact in ``names``, read from ``regime-{profile}`` (the stored
    table of ``icl_book.experiments.regime``): "reached" or "short" where the table measured the
    weights now in the store, "unmeasured" where it has no entry for them (the table absent, the
    artifact not in it, or retrained since). Raises ArtifactMissing if an artifact in ``names`` is absent."""
    if not names:
        return ()
    entries = {name: store.entry(name) for name in names}
    try:
        table = store.results(f"regime-{profile}")["evaluation"]["artifacts"]
    except ArtifactMissing:
        table = {}
    out = []
    for name, entry in entries.items():
        m = table.get(name)
        if m is None or m.get("weights_sha256") != entry.get("files", {}).get("weights.safetensors"):
            out.append({"artifact": name, "status": "unmeasured", "value": None, "threshold": None, "units": None})
        else:
            out.append({"artifact": name, "status": "reached" if m["reached"] else "short", "value": m["value"],
                        "threshold": m["threshold"], "units": m["units"]})
    return tuple(out)


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
    """The scorecard (or one chapter's part of it) as a Markdown table, as the book shows it: one
    row per claim, its verdict beside its text (so the verdict stays in view in a narrow column),
    our cpu value, the paper's, and the paper-scale (GPU) run of the same claim beside them rather
    than in a row of its own."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|")          # a "|" in a statement (1/|C_n|) is not a column

    def value(c: Claim) -> str:
        return "—" if c.ours is None else f"{c.ours:.3g}"

    rows = ["| claim | verdict | ours | the paper | at paper scale |", "|---|---|---|---|---|"]
    for base, by_profile in paired(scorecard(store, chapter)).items():
        first = next(iter(by_profile.values()))
        main = by_profile.get("cpu", first)
        gpu = by_profile.get("paper") if main.profile != "paper" else None
        claim = f"{cell(main.statement)}<br><small>`{base}`</small>" if with_ids else cell(main.statement)
        at_scale = "—" if gpu is None else (verdict_cell(gpu) if gpu.verdict == "not run" else
                                            f"{value(gpu)}: {verdict_cell(gpu)}")
        rows.append(f"| {claim} | {verdict_cell(main)} | {value(main)} | {cell(main.paper)} | {at_scale} |")
    return "\n".join(rows)


def paired(card: list[Claim]) -> dict[str, dict[str, Claim]]:
    """Claims grouped by what they claim: ``x.cpu`` and its twin ``x.paper`` under ``x``, in card order."""
    out: dict[str, dict[str, Claim]] = {}
    for c in card:
        suffix = f".{c.profile}"
        base = c.id[: -len(suffix)] if c.id.endswith(suffix) else c.id
        out.setdefault(base, {})[c.profile] = c
    return out


def verdict_cell(c: Claim) -> str:
    """A verdict as the tables show it: bold, except "not reached", in italics with the artifacts that
    are short of their regime (the value beside it is ours, but no evidence about the theory)."""
    if c.verdict != "not reached":
        return f"**{c.verdict}**"
    short = ", ".join(f"`{g['artifact']}`" for g in c.reads if g["status"] == "short")
    return f"*not reached*<br><small>short: {short}</small>"


def tally(card: list[Claim]) -> dict[str, int]:
    """How many claims of ``card`` have each verdict, in ``VERDICTS`` order ("not reached" apart)."""
    return {v: sum(c.verdict == v for c in card) for v in VERDICTS}


# Each chapter registers its claims when its module is imported, in the book's order.
from . import ch0, ginc, retrieval, spinglass, kernel_regression, locate_project, synthesis  # noqa: E402,F401  (registration is the import)
