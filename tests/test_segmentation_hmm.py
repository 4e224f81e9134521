"""The segmentation lens on the kernel-regression chapter's HMM prompts: delimiters that lie, go
missing or move (``perturb_delimiters``), and the scorer that runs a model and the exact predictor
on them (``segmentation_controls``)."""

from __future__ import annotations

import numpy as np
import pytest

from icl_book.analysis import kernel_regression as ka
from icl_book.analysis.model_reader import read_model
from icl_book.tasks import perturbations as tp
from icl_book.tasks.ginc import delimiter_positions, example_spans
from icl_book.tasks import GINCConfig, build_hmms, make_prompts
from icl_book.tasks.ginc import DELIMITER_ID

SMALL = GINCConfig(vocab_size=20, n_entities=3, n_properties=4, n_concepts=4, n_pretrain_concepts=2)
K, N = 3, 6
LETTERS = np.arange(2, 21)


@pytest.fixture(scope="module")
def prompts():
    return make_prompts(build_hmms(SMALL), K, N, 2000, seed=5).tokens


def _positions():
    spans = example_spans(K, N)
    inputs = (spans[:, :1] + np.arange(K - 1)).reshape(-1)
    return inputs, spans[:, 0] + K - 1, delimiter_positions(K, N)            # x_i, y_i, delimiters


def _within_binomial(hits: np.ndarray, rate: float):
    # five standard deviations of a binomial proportion: a false failure has odds of about 1e-6
    sd = np.sqrt(rate * (1 - rate) / hits.size)
    assert abs(hits.mean() - rate) < 5 * sd + 1e-12, (hits.mean(), rate, hits.size)


def test_spurious_delimiters_hit_only_inputs_at_the_rate(prompts):
    inputs, _, _ = _positions()
    out = tp.perturb_delimiters(prompts, K, N, "spurious", 0.3, seed=1)
    changed = out != prompts
    assert not np.delete(changed, inputs, axis=1).any()                        # labels, delimiters, x_test
    assert (out[changed] == DELIMITER_ID).all()
    already = prompts[:, inputs] == DELIMITER_ID                               # the chain's own delimiters
    assert already.any()
    _within_binomial(changed[:, inputs][~already], 0.3)


def test_missing_delimiters_become_letters_at_the_rate(prompts):
    _, _, delims = _positions()
    out = tp.perturb_delimiters(prompts, K, N, "missing", 0.2, LETTERS, seed=1)
    changed = out != prompts
    assert not np.delete(changed, delims, axis=1).any()
    assert np.isin(out[changed], LETTERS).all()
    _within_binomial(changed[:, delims], 0.2)


def test_shifted_delimiters_swap_with_their_label_at_the_rate(prompts):
    _, labels, delims = _positions()
    out = tp.perturb_delimiters(prompts, K, N, "shifted", 0.4, seed=1)
    assert not np.delete(out != prompts, np.concatenate([labels, delims]), axis=1).any()
    np.testing.assert_array_equal(np.sort(out, 1), np.sort(prompts, 1))       # tokens move, none is lost
    moved = out[:, labels] == DELIMITER_ID
    np.testing.assert_array_equal(out[:, delims], np.where(moved, prompts[:, labels], DELIMITER_ID))
    real = prompts[:, labels] != DELIMITER_ID                                 # a '/' label moves invisibly
    _within_binomial(moved[real], 0.4)


def test_shifted_by_hand():
    # a b y1 / c d y2 / e f  ->  a b / y1 c d / y2 e f
    tokens = np.array([[2, 3, 10, 1, 4, 5, 11, 1, 6, 7]])
    out = tp.perturb_delimiters(tokens, 3, 2, "shifted", 1.0)
    np.testing.assert_array_equal(out, [[2, 3, 1, 10, 4, 5, 1, 11, 6, 7]])


@pytest.mark.parametrize("mode", tp.SEGMENTATION_MODES)
def test_rate_zero_is_the_identity_and_rate_one_hits_every_position(prompts, mode):
    inputs, labels, delims = _positions()
    np.testing.assert_array_equal(tp.perturb_delimiters(prompts, K, N, mode, 0.0, LETTERS, seed=2), prompts)
    out = tp.perturb_delimiters(prompts, K, N, mode, 1.0, LETTERS, seed=2)
    if mode == "spurious":
        assert (out[:, inputs] == DELIMITER_ID).all()
    elif mode == "missing":
        assert np.isin(out[:, delims], LETTERS).all()
    else:
        assert (out[:, labels] == DELIMITER_ID).all()
        np.testing.assert_array_equal(out[:, delims], prompts[:, labels])


@pytest.mark.parametrize("mode", tp.SEGMENTATION_MODES)
def test_the_test_input_is_never_touched(prompts, mode):
    for rate in (0.0, 0.5, 1.0):
        out = tp.perturb_delimiters(prompts, K, N, mode, rate, LETTERS, seed=3)
        np.testing.assert_array_equal(out[:, -(K - 1):], prompts[:, -(K - 1):])
        np.testing.assert_array_equal(prompts, make_prompts(build_hmms(SMALL), K, N, 2000, seed=5).tokens)


def test_bad_inputs_fail_with_one_line(prompts):
    with pytest.raises(ValueError, match="mode"):
        tp.perturb_delimiters(prompts, K, N, "dropped", 0.1, LETTERS)
    for rate in (-0.1, 1.5, "0.3", float("nan")):
        with pytest.raises(ValueError, match="rate"):
            tp.perturb_delimiters(prompts, K, N, "spurious", rate)
    with pytest.raises(ValueError, match="letters"):
        tp.perturb_delimiters(prompts, K, N, "missing", 0.1)
    with pytest.raises(ValueError, match="letters"):
        tp.perturb_delimiters(prompts, K, N, "missing", 0.1, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="expected"):
        tp.perturb_delimiters(prompts[:, :-1], K, N, "spurious", 0.1)
    broken = tp.perturb_delimiters(prompts, K, N, "missing", 1.0, LETTERS)
    with pytest.raises(ValueError, match="delimiter"):
        tp.perturb_delimiters(broken, K, N, "missing", 0.1, LETTERS)


def test_segmentation_controls_on_a_smoke_model(tmp_path):
    from icl_book import experiments
    from icl_book.experiments.kernel_regression import _exact_predictions
    from icl_book.store import ArtifactStore

    store = ArtifactStore(tmp_path / "store")
    experiments.run("kernel-hmm", "smoke", store=store, run_root=tmp_path / "runs", progress=False)
    results, model = store.results("kernel-hmm-smoke"), store.model("kernel-hmm-smoke").eval()
    hmm, k, n, P = GINCConfig(**results["task"]["hmm"]), results["task"]["k"], 4, 60
    rates = (0.0, 0.5, 1.0)
    r = ka.segmentation_controls(model, hmm, k, n, rates=rates, n_prompts=P, seed=7)
    assert set(r) >= {"clean", "zero_shot", "modes", "natural_delimiters", "rates"}
    assert set(r["modes"]) == set(tp.SEGMENTATION_MODES)
    # the clean accuracy, computed here from the same prompts by another path
    pr = make_prompts(build_hmms(hmm), k, n, P, seed=7)
    clean = np.mean(read_model(model, pr.tokens).prediction == pr.labels)
    bayes = _exact_predictions(results["task"], pr.tokens, k, n)
    assert r["clean"]["model_accuracy"]["mean"] == pytest.approx(clean)
    assert r["clean"]["bayes_accuracy"]["mean"] == pytest.approx(np.mean(bayes == pr.labels))
    for mode, rows in r["modes"].items():
        assert len(rows["model_accuracy"]) == len(rates)
        assert rows["model_accuracy"][0]["mean"] == pytest.approx(clean)
        assert rows["tokens_changed"][0] == 0 and rows["tokens_changed"][-1] > 0
        for cell in rows["model_accuracy"] + rows["model_bayes_agreement"]:
            assert 0 <= cell["mean"] <= 1 and cell["lo"] <= cell["mean"] <= cell["hi"]
    # Bayes reads examples at known positions and never a delimiter: missing ones change nothing
    assert r["modes"]["missing"]["bayes_perturbed_equals_clean"] == [1.0] * len(rates)
    # every input a delimiter: a start state never emits one, so no task can produce the prompt
    assert r["modes"]["spurious"]["bayes_perturbed_impossible"][-1] == 1.0
    with pytest.raises(ValueError, match="mode"):
        ka.segmentation_controls(model, hmm, k, n, modes=("dropped",), n_prompts=P)
