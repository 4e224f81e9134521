"""The scorecard: verdicts follow their thresholds; a missing artifact is 'not run', never a pass."""

import re

import pytest

from icl_book import claims
from icl_book.papers import PaperValue


def test_thresholds_give_the_verdicts():
    judge = claims.at_most(0.05, 0.2)
    assert [judge(v) for v in (0.0, 0.05, 0.1, 0.2, 0.3)] == \
        ["reproduced", "reproduced", "partly", "partly", "not reproduced"]
    judge = claims.within(PaperValue(None, "between 0.6 and 1.0", "k", "Fig. 1", low=0.6, high=1.0), 0.2)
    assert [judge(v) for v in (0.7, 0.45, 1.15, 1.3, 0.1)] == \
        ["reproduced", "partly", "partly", "not reproduced", "not reproduced"]
    judge = claims.at_least(3.0, 1.0)
    assert [judge(v) for v in (5.0, 3.0, 2.0, 1.0, 0.5)] == \
        ["reproduced", "reproduced", "partly", "partly", "not reproduced"]
    assert [claims.above(1.0, 0.8)(v) for v in (1.2, 1.0, 0.9, 0.8)] == \
        ["reproduced", "partly", "partly", "not reproduced"]
    assert [claims.below(0.5, 1.0)(v) for v in (0.2, 0.5, 0.9, 1.0)] == \
        ["reproduced", "partly", "partly", "not reproduced"]


def test_close_to_reads_the_paper_value_and_its_spread():
    paper = PaperValue(0.534, "0.534 ± 0.030", "k", "Fig. 4b", spread=0.030)
    judge = claims.close_to(paper, claims.spreads(paper, 1), claims.spreads(paper, 3))
    assert [judge(v) for v in (0.534, 0.56, 0.60, 0.63, 0.2)] == \
        ["reproduced", "reproduced", "partly", "not reproduced", "not reproduced"]


def test_rules_refuse_what_they_cannot_judge():
    bare = PaperValue(None, "a statement", "k", "abstract")
    for make in (lambda: claims.close_to(bare, 0.1, 0.2), lambda: claims.within(bare, 1.0),
                 lambda: claims.spreads(bare, 2), lambda: claims.at_least(1.0, 2.0)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError, match="range"):
        PaperValue(None, "x", "k", "w", low=2.0, high=1.0)


def test_spread_based_thresholds_come_from_the_papers_numbers():
    """The spin glass's tolerances are its stated standard deviations: not retyped at the claim."""
    spec = claims.REGISTRY["spinglass.mp-error-n20.cpu"]
    paper = spec.paper
    assert spec.judge(paper.value + 0.99 * paper.spread) == "reproduced"
    assert spec.judge(paper.value + 2.9 * paper.spread) == "partly"
    assert spec.judge(paper.value + 3.1 * paper.spread) == "not reproduced"


def test_a_missing_artifact_means_not_run(tmp_store):
    card = claims.scorecard(tmp_store)
    assert card and all(c.verdict == "not run" and c.ours is None for c in card)
    assert "icl-book train linreg --profile cpu" in claims.evaluate("ch0.follows-bayes", tmp_store).detail


def test_claims_compute_from_their_artifact(tmp_store, regime):
    curve = {"mean": [1.0, 0.5, 0.02, 0.01, 0.0], "lo": [0] * 5, "hi": [0] * 5}
    bayes = {"mean": [1.0, 0.5, 0.0, 0.0, 0.0], "lo": [0] * 5, "hi": [0] * 5}
    knn = {"mean": [1.0, 0.9, 0.8, 0.8, 0.75], "lo": [0] * 5, "hi": [0] * 5}
    results = {"task": {"d": 2}, "note": "test",
               "evaluation": {"curves": {"transformer": curve, "bayes": bayes, "nearest_neighbours": knn}}}
    tmp_store.save("linreg-cpu", results=results, provenance={"command": "icl-book train linreg --profile cpu"})
    regime("linreg-cpu")
    at_2d = claims.evaluate("ch0.error-at-2d.cpu", tmp_store)
    assert at_2d.ours == 0.0 and at_2d.verdict == "reproduced" and at_2d.source == "linreg-cpu"
    gap = claims.evaluate("ch0.follows-bayes", tmp_store)
    assert gap.ours == pytest.approx(0.02) and gap.verdict == "reproduced"
    assert claims.evaluate("ch0.knn-at-2d", tmp_store).verdict == "reproduced"
    assert claims.evaluate("ch0.error-at-2d.paper", tmp_store).verdict == "not run"


def test_every_claim_names_a_paper_citation_and_a_known_chapter():
    for spec in claims.REGISTRY.values():
        assert spec.paper.cite and spec.paper.where and spec.profile in ("smoke", "cpu", "paper")
    with pytest.raises(KeyError, match="no claim"):
        claims.evaluate("ch9.nothing")


def test_every_cited_paper_is_in_the_bibliography():
    from pathlib import Path

    bib = (Path(__file__).resolve().parents[1] / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    assert {spec.paper.cite for spec in claims.REGISTRY.values()} <= keys


def test_markdown_table_lists_a_chapters_claims_only(tmp_store):
    table = claims.markdown_table("ch0", tmp_store, with_ids=True)
    assert table.splitlines()[0] == "| claim | verdict | ours | the paper | at paper scale |"
    assert "ch0.follows-bayes" in table and "ginc." not in table
    card = claims.scorecard(tmp_store, "ch0")
    assert table.count("**not run**") == len(card)        # every claim once: a cpu row or its paper cell
    # one row per claim: a cpu claim and its paper twin share a row
    assert len(table.splitlines()) - 2 == len(claims.paired(card)) < len(card)
    assert "`ch0.error-at-2d`" in table and "`ch0.error-at-2d.cpu`" not in table


def test_markdown_table_rows_keep_five_columns_when_a_statement_holds_a_pipe(tmp_store):
    """The attention claims speak of 1/|C_n|: an unescaped "|" would split the row into more cells."""
    table = claims.markdown_table("retrieval", tmp_store)
    rows = table.splitlines()[2:]
    assert any("1/\\|C_n\\|" in row for row in rows)
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row)
        assert len(cells) == 7, row          # five cells between the six unescaped pipes


def test_every_rule_passes_its_right_value_and_fails_its_wrong_one():
    """Issue 14: a verdict is a test. Each claim carries a value its rule must accept and a plausible
    wrong value (chance, the prior's answer, an undertrained model) it must reject."""
    missing = [spec.id for spec in claims.REGISTRY.values() if spec.passes is None or spec.fails is None]
    assert not missing, f"claims without their pass/fail examples: {missing}"
    for spec in claims.REGISTRY.values():
        wrong, why = spec.fails
        assert why.strip(), spec.id
        assert spec.judge(spec.passes) == "reproduced", (spec.id, spec.passes)
        assert spec.judge(wrong) == "not reproduced", (spec.id, wrong, why)


def test_every_profile_that_ships_has_a_scorecard_row():
    """Every cpu and paper profile of every experiment is the source of at least one claim, so the
    scorecard says "not run" for a profile no one has trained rather than leaving it out."""
    from icl_book.experiments import EXPERIMENTS, artifact_name
    sources = {spec.source for spec in claims.REGISTRY.values()}
    # the regime table is every model-side row's gate: the rows that read models read it
    sources |= {f"regime-{spec.profile}" for spec in claims.REGISTRY.values() if spec.reads}
    rowless = [artifact_name(e.name, p) for e in EXPERIMENTS.values() for p in e.profiles
               if p != "smoke" and artifact_name(e.name, p) not in sources]
    assert not rowless, f"profiles without a scorecard row: {rowless}"


def test_a_claim_moves_to_another_profile_whole():
    spec = claims.REGISTRY["ch0.error-at-2d.cpu"]
    twin = spec.at("paper")
    assert (twin.id, twin.source, twin.profile) == ("ch0.error-at-2d.paper", "linreg-paper", "paper")
    assert twin.judge is spec.judge and twin.statement == spec.statement
    with pytest.raises(ValueError, match="does not end with"):
        claims.REGISTRY["ch0.follows-bayes"].at("paper")


def test_an_undefined_value_is_never_a_pass_and_stays_valid_json(tmp_store):
    import json

    spec = claims.ClaimSpec("ch0.undefined.cpu", "ch0", "a reduction of a bias that is not there",
                            PaperValue(17.0, "17 %", "k", "Sec. 6"), "cpu", "linreg-cpu",
                            compute=lambda r: float("nan"), judge=claims.at_least(8.5, 1.0))
    tmp_store.save("linreg-cpu", results={"note": "test"}, provenance={"command": "icl-book train linreg"})
    claim = spec.evaluate(tmp_store)
    assert claim.ours is None and claim.verdict == "not reproduced" and "undefined" in claim.detail
    json.dumps(claim.to_dict(), allow_nan=False)


# ---- the regime: a claim over a model short of it says "not reached" -----------------------------

def _linreg(tmp_store):
    curve = {"mean": [1.0, 0.5, 0.02, 0.01, 0.0], "lo": [0] * 5, "hi": [0] * 5}
    results = {"task": {"d": 2}, "note": "test", "evaluation": {"curves": {"transformer": curve, "bayes": curve,
                                                                           "nearest_neighbours": curve}}}
    tmp_store.save("linreg-cpu", results=results, provenance={"command": "icl-book train linreg --profile cpu"})


def test_a_claim_over_a_short_artifact_is_not_reached_and_over_a_reached_one_keeps_its_verdict(tmp_store, regime):
    _linreg(tmp_store)
    regime(short=("linreg-cpu",))
    short = claims.evaluate("ch0.error-at-2d.cpu", tmp_store)
    assert short.verdict == "not reached" and short.ours == 0.0            # our value still shown
    assert "linreg-cpu" in short.detail and "'reproduced'" in short.detail  # and what the rule alone says
    assert short.reads[0]["artifact"] == "linreg-cpu" and short.reads[0]["status"] == "short"
    regime("linreg-cpu")
    reached = claims.evaluate("ch0.error-at-2d.cpu", tmp_store)
    assert reached.verdict == "reproduced" and reached.reads[0]["status"] == "reached"
    # a claim on baselines alone reads no model: no gate
    regime(short=("linreg-cpu",))
    knn = claims.evaluate("ch0.knn-at-2d", tmp_store)
    assert knn.reads == () and knn.verdict != "not reached"
    # a wrong value on a short model is "not reached" too: the gate comes first, whatever the rule says
    bad = claims.ClaimSpec("ch0.wrong.cpu", "ch0", "s", claims.REGISTRY["ch0.follows-bayes"].paper, "cpu",
                           "linreg-cpu", compute=lambda r: 1.0, judge=claims.at_most(0.05, 0.2), reads=("linreg-cpu",))
    assert bad.evaluate(tmp_store).verdict == "not reached"
    regime("linreg-cpu")
    assert bad.evaluate(tmp_store).verdict == "not reproduced"


def test_an_unmeasured_regime_is_not_run_never_a_pass(tmp_store, regime):
    """Without the regime table, or with one measured on other weights, the gate cannot be read: the
    claim is "not run" and says how to make the table."""
    _linreg(tmp_store)
    no_table = claims.evaluate("ch0.error-at-2d.cpu", tmp_store)
    assert no_table.verdict == "not run" and no_table.ours is None
    assert "icl-book train regime --profile cpu" in no_table.detail and no_table.reads[0]["status"] == "unmeasured"
    regime("linreg-cpu")
    table = tmp_store.results("regime-cpu")
    table["evaluation"]["artifacts"]["linreg-cpu"]["weights_sha256"] = "0" * 64      # measured other weights
    tmp_store.save("regime-cpu", results=table, provenance={})
    assert claims.evaluate("ch0.error-at-2d.cpu", tmp_store).verdict == "not run"


def test_not_reached_is_counted_shown_and_carried_apart(tmp_store, regime):
    import json

    _linreg(tmp_store)
    regime(short=("linreg-cpu",))
    card = claims.scorecard(tmp_store, "ch0")
    assert "not reached" in claims.VERDICTS and claims.tally(card)["not reached"] == 2
    assert sum(claims.tally(card).values()) == len(card)
    table = claims.markdown_table("ch0", tmp_store)
    assert table.count("*not reached*") == 2 and "**not reached**" not in table and "`linreg-cpu`" in table
    row = json.loads(json.dumps([c.to_dict() for c in card]))
    gated = [c for c in row if c["id"] == "ch0.follows-bayes"][0]
    assert gated["reads"] == [{"artifact": "linreg-cpu", "status": "short", "value": 1.0, "threshold": 0.5,
                               "units": "nats / token"}]


def test_every_model_side_claim_reads_its_models():
    """A claim whose source is a trained model reads it; a claim on an analysis of trained models reads
    at least one model; every artifact read is a trained model's (its experiment has a regime family);
    a claim on exact references (the spin glass's solves, Table 3's numerics) reads none."""
    from icl_book.experiments import EXPERIMENTS
    from icl_book.experiments.regime import family_of

    def experiment(artifact):
        base = re.sub(r"-seed\d+$", "", artifact)
        return next(e for e in sorted(EXPERIMENTS, key=len, reverse=True)
                    if base in (f"{e}-cpu", f"{e}-paper", f"{e}-smoke"))

    analyses = {"ginc-analysis", "kernel-analysis", "classify-analysis", "testbed-analysis", "segment-study"}
    for spec in claims.REGISTRY.values():
        for name in spec.reads:
            assert family_of(experiment(name)) is not None, (spec.id, name)
        source = experiment(spec.source)
        if spec.id == "ch0.knn-at-2d":           # a baseline's curve, stored beside the model's: no model read
            assert not spec.reads
        elif family_of(source) is not None:
            assert spec.source in spec.reads, spec.id
            assert set(spec.also) <= set(spec.reads), spec.id
        elif source in analyses and not spec.id.startswith("kernel_regression.table3"):
            assert spec.reads, spec.id
        else:
            assert not spec.reads or source in analyses, spec.id
    assert not claims.REGISTRY["spinglass.mp-error-n20.cpu"].reads
    assert not claims.REGISTRY["kernel_regression.table3-rate.cpu"].reads
    assert claims.REGISTRY["locate.accuracy.cpu"].at("paper").reads == ("classify-proportional-paper",)


def test_the_shipped_scorecard_never_judges_a_short_model(tmp_store):
    """On the shipped store: every claim that reads a model short of its regime says "not reached", and no
    claim with a verdict on the theory reads one."""
    for c in claims.scorecard():
        statuses = {g["status"] for g in c.reads}
        if "short" in statuses:
            assert c.verdict == "not reached", c.id
        elif c.verdict in ("reproduced", "partly", "not reproduced"):
            assert statuses <= {"reached"}, c.id
