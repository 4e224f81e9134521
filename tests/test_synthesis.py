"""The synthesis chapter: the phenomenon × theory table is complete and every cell has a source,
cell verdicts follow from claim verdicts, the testbed sweep is the kernel chapter's corpus with a
growing pool, and its models learn in context at smoke scale."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from icl_book import claims, experiments
from icl_book.claims import synthesis as syn
from icl_book.experiments import kernel_regression as kx
from icl_book.store import ArtifactStore


def test_the_table_has_one_lens_per_phenomenon_and_theory():
    pairs = [(c.phenomenon, c.theory) for c in syn.LENSES]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == {(p.key, t.key) for p in syn.PHENOMENA for t in syn.THEORIES}


def test_every_cell_comes_from_a_registered_claim():
    """A cell without a source fails: each prediction names claims that exist, each phenomenon is
    measured by at least one, and a silent cell has no prediction text to show."""
    for lens in syn.LENSES:
        for cid in lens.claims + lens.against:
            assert cid in claims.REGISTRY, (lens, cid)
        assert bool(lens.prediction) != lens.silent, lens
    for ph in syn.PHENOMENA:
        assert ph.measured_by and all(cid in claims.REGISTRY for cid in ph.measured_by), ph


def test_every_theory_predicts_something_and_two_of_them_disagree_somewhere():
    for th in syn.THEORIES:
        assert any(not c.silent for c in syn.LENSES if c.theory == th.key), th
    # the diversity row: Bayes over the pretraining concepts against the spin glass's threshold
    lenses = {(c.phenomenon, c.theory): c for c in syn.LENSES}
    assert set(lenses["diversity", "bayes"].against) & set(lenses["diversity", "spinglass"].claims)


@pytest.mark.parametrize("verdicts, cell", [
    ([], "silent"), (["reproduced"], "explained"), (["reproduced", "reproduced"], "explained"),
    (["not reproduced"], "contradicted"), (["reproduced", "not reproduced"], "partly explained"),
    (["partly"], "partly explained"), (["not reproduced", "partly"], "partly explained"),
    (["not run"], "not run"), (["not run", "reproduced"], "explained"),
    # a claim on a model short of its regime is no evidence for or against the theory
    (["not reached"], "not reached"), (["not reached", "not run"], "not reached"),
    (["not reached", "reproduced"], "explained"), (["not reached", "not reproduced"], "contradicted")])
def test_cell_verdicts_follow_from_the_claims(verdicts, cell):
    assert syn.cell_verdict(verdicts) == cell


def test_a_claim_stating_the_opposite_flips_the_verdict(tmp_store, monkeypatch, regime):
    lens = syn.Lens("order", "kernel", "none", "here", against=("ch0.error-at-2d.cpu",))
    monkeypatch.setattr(syn, "LENSES", tuple(lens if (c.phenomenon, c.theory) == ("order", "kernel") else c
                                             for c in syn.LENSES))
    real = claims.REGISTRY["ch0.error-at-2d.cpu"]
    monkeypatch.setitem(claims.REGISTRY, "ch0.error-at-2d.cpu",
                        dataclasses.replace(real, compute=lambda r: 0.0, judge=lambda v: "reproduced"))
    tmp_store.save("linreg-cpu", results={"evaluation": {}}, provenance={})
    regime("linreg-cpu")
    cell = next(c for c in syn.table(tmp_store) if (c.phenomenon, c.theory) == ("order", "kernel"))
    assert cell.verdict == "contradicted" and cell.against[0].verdict == "reproduced"
    regime(short=("linreg-cpu",))      # a model short of its regime is no evidence either way
    cell = next(c for c in syn.table(tmp_store) if (c.phenomenon, c.theory) == ("order", "kernel"))
    assert cell.verdict == "not reached" and cell.against[0].verdict == "not reached"


def test_the_rows_no_theory_explains_are_found():
    def cell(ph, verdict):
        return syn.Cell(ph, "kernel", "p", verdict, (), (), ())
    cells = [cell("order", "explained"), cell("order", "contradicted"), cell("ood", "partly explained"),
             cell("retrieval", "silent")]
    assert [k for k in syn.unexplained(cells) if k in ("order", "ood", "retrieval")] == ["ood", "retrieval"]


def test_a_claim_across_artifacts_reads_them_all_and_is_not_run_without_one(tmp_store, monkeypatch, regime):
    spec = claims.REGISTRY["synthesis.fit-orders-icl.cpu"]
    accuracy = claims.REGISTRY["ginc.4l-accuracy.cpu"]
    monkeypatch.setitem(claims.REGISTRY, "ginc.4l-accuracy.cpu",
                        dataclasses.replace(accuracy, compute=lambda r: r["evaluation"]["acc"]))
    runs = {"ginc-4l-cpu": (1.5, 0.9), "ginc-12l-cpu": (1.6, 0.8), "ginc-16l-cpu": (1.7, 0.7),
            "ginc-lstm-cpu": (1.4, 0.95)}
    for name, (loss, acc) in runs.items():
        tmp_store.save(name, results={"evaluation": {"val_loss": loss, "acc": acc}}, provenance={})
    assert spec.evaluate(tmp_store).verdict == "not run"          # the fifth model is missing
    tmp_store.save("ginc-4l-short-cpu", results={"evaluation": {"val_loss": 2.0, "acc": 0.5}}, provenance={})
    assert spec.evaluate(tmp_store).verdict == "not run"          # no regime measured for them
    regime(*runs, "ginc-4l-short-cpu")
    assert spec.evaluate(tmp_store).ours == 1.0
    tmp_store.save("ginc-4l-short-cpu", results={"evaluation": {"val_loss": 2.0, "acc": 0.99}}, provenance={})
    assert spec.evaluate(tmp_store).ours == 0.6                   # 4 of its 10 pairs now out of order


def test_the_pool_of_three_is_the_kernel_chapters_corpus_and_recipe():
    """The sweep's M = 3 point is the chapter's own model, so it is not trained twice: same documents,
    token for token, same model and training configs."""
    small = lambda task: dataclasses.replace(task, n_docs=300)
    own = kx.KERNEL_PROFILES["cpu"]
    assert torch.equal(kx._corpus(small(own.task)), kx._corpus(small(kx.pool_task(own.task, 3))))
    assert not torch.equal(kx._corpus(small(own.task)), kx._corpus(small(kx.pool_task(own.task, 6))))
    six = experiments.get("kernel-pool-m6").profile("cpu")
    assert six.model == own.model and six.train == own.train
    assert kx.pool_artifact(3) == "kernel-hmm-cpu" and kx.pool_artifact(6) == "kernel-pool-m6-cpu"


def test_held_out_concepts_are_in_no_pool_and_their_hmms_do_not_depend_on_the_pool():
    from icl_book.tasks import build_hmms
    hmm = kx.pool_task(kx.KERNEL_PROFILES["cpu"].task, max(kx.POOL_SIZES)).hmm
    held = build_hmms(kx.held_out_config(hmm))
    assert max(kx.POOL_SIZES) <= kx.HELD_OUT[0] and list(held.unseen_concepts) == list(range(*kx.HELD_OUT))
    small = build_hmms(kx.pool_task(kx.KERNEL_PROFILES["cpu"].task, 1).hmm)
    assert np.array_equal(small.property_transitions, held.property_transitions)
    with pytest.raises(ValueError, match="pool takes"):
        kx.pool_task(kx.KERNEL_PROFILES["cpu"].task, 13)


@pytest.fixture(scope="module")
def smoke_testbed(tmp_path_factory):
    """A smoke-trained sweep model (M = 6) in its own store."""
    root = tmp_path_factory.mktemp("testbed")
    store = ArtifactStore(root / "store")
    experiments.run("kernel-pool-m6", "smoke", store=store, run_root=root / "runs", progress=False)
    return store


def test_testbed_models_learn_in_context_at_smoke_scale(smoke_testbed):
    """A smoke-trained sweep model gains from its demonstrations: accuracy at the most demonstrations
    above its zero-shot accuracy by more than three binomial standard errors."""
    ev = smoke_testbed.results("kernel-pool-m6-smoke")["evaluation"]
    a0, a1, n = ev["model_accuracy"][0], ev["model_accuracy"][-1], ev["n_prompts"]
    se = np.sqrt((a0 * (1 - a0) + a1 * (1 - a1)) / n)
    assert a1 - a0 > 3 * se and ev["bayes_accuracy"][-1] > ev["bayes_accuracy"][0]


def test_every_lens_runs_on_a_testbed_model_and_the_claims_read_it(smoke_testbed):
    from icl_book.experiments import synthesis as sx

    model = smoke_testbed.model("kernel-pool-m6-smoke").eval()
    hmm = sx.sweep_config(smoke_testbed.results("kernel-pool-m6-smoke")["task"]["hmm"])
    t = sx.Testbed(eval_n=(0, 2, 6), n_prompts=60, kernel_n=6, locate_n=6, delimiter_n=6, delimiter_prompts=60,
                   delimiter_rates=(0.0, 1.0))
    got = sx.analyse_model(model, hmm, t)
    assert set(got) >= {"curves", "kernel", "controls", "locate", "delimiters"} and got["pool"] == 6
    held = got["curves"]["held_out"]
    assert len(held["model"]) == len(held["bayes_oracle"]) == 3
    # the oracle knows the held-out concepts: with demonstrations it beats the pool's exact predictor there
    assert held["bayes_oracle"][-1] >= held["bayes_pool"][-1]
    results = {"evaluation": {"models": {syn.OWN: got}}}
    measures = syn.testbed_measures(results, syn.OWN)
    assert set(measures) == set(syn.TESTBED_MEASURES)
    assert measures["format"][2] == 0.0 and 0 <= syn.order_spread(results) <= 1
    # the exact predictor reads known positions: missing delimiters leave it as it was
    d = got["delimiters"]["modes"]["missing"]
    assert d["bayes_perturbed_equals_clean"] == [1.0, 1.0]
