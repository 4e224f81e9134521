"""The regime measures: exact references that agree with the book's per-position ones, rules that call a
model at its exact reference reached and one at its blind reference short, and a stored table that
covers every shipped model on the weights it ships."""

import numpy as np
import pytest
import torch

from icl_book.analysis import regime as R


def test_hmm_document_losses_are_the_per_position_exact_and_blind_predictives():
    """The chain rule: the evidence-based loss per token is the mean of -log of the book's per-position
    exact predictive (``document_predictive``), for the mixture and for the concept-blind reference."""
    from icl_book.bayes.hmm import document_predictive
    from icl_book.tasks import GINCConfig, build_hmms, pretraining_tokens

    for cfg in (GINCConfig.released_code(vocab_size=30), GINCConfig(vocab_size=30, single_concept=True)):
        ginc = build_hmms(cfg)
        docs = pretraining_tokens(ginc, 6, 40, 3).tokens
        exact, blind = R.hmm_document_losses(ginc, docs)
        pick = lambda p: -np.log(np.take_along_axis(p, docs[:, 1:, None], -1)[..., 0]).mean(1)
        assert exact == pytest.approx(pick(document_predictive(ginc, docs)), rel=1e-9)
        assert blind == pytest.approx(pick(document_predictive(ginc, docs, mixture=False)), rel=1e-9)
        assert (blind >= exact - 1e-12).mean() > 0.5
    flat = build_hmms(GINCConfig(vocab_size=30, random_tokens=True))
    exact, blind = R.hmm_document_losses(flat, pretraining_tokens(flat, 3, 20, 0).tokens)
    assert exact == pytest.approx(np.log(30)) and blind == pytest.approx(np.log(30))


def _kernel_loop(family, doc, k):
    """The exact predictive of one kernel-corpus document position by position (the reference the
    vectorised chain rule must match): posterior over tasks from the complete examples before and the
    current example's prefix; a full example is followed by its delimiter for certain."""
    from icl_book.bayes.kernel_regression import beliefs, task_predictive
    from icl_book.tasks.ginc import DELIMITER_ID

    start_probs = family.start @ family.emissions()                        # [C, V + 1] first token
    losses = []
    for t in range(len(doc) - 1):
        pos = t + 1                                                         # the token predicted
        ex, off = divmod(pos, k + 1)
        if off == k:
            losses.append(0.0 if doc[pos] == DELIMITER_ID else np.inf)
            continue
        done = doc[: ex * (k + 1)].reshape(ex, k + 1)[:, :k] if ex else np.zeros((0, k), int)
        log_post = np.zeros(family.n_tasks)
        if ex:
            log_post += beliefs(family, done)[1].sum(0)
        prefix = doc[ex * (k + 1): pos]
        if off == 0:
            probs = start_probs
        else:
            log_post += beliefs(family, prefix[None])[1][0]
            probs = task_predictive(family, prefix[None])[0]
        post = np.exp(log_post - log_post.max())
        post /= post.sum()
        losses.append(-np.log(post @ probs[:, doc[pos]]))
    return np.mean(losses)


def test_kernel_document_losses_match_a_position_by_position_loop():
    from icl_book.bayes.kernel_regression import TaskFamily
    from icl_book.tasks import GINCConfig, build_hmms, make_prompts

    ginc = build_hmms(GINCConfig(vocab_size=12, n_entities=2, n_properties=3, n_concepts=3, n_pretrain_concepts=2))
    family = TaskFamily.from_ginc_prompts(ginc)
    k, n = 3, 4
    docs = make_prompts(ginc, k, n, 5, seed=1).tokens
    exact, blind = R.kernel_document_losses(family, docs, k, n)
    assert exact == pytest.approx([_kernel_loop(family, d, k) for d in docs], rel=1e-9)
    assert np.all(blind >= exact - 1e-12)
    # one example and no demonstrations: nothing to learn from, the two coincide
    one = make_prompts(ginc, k, 0, 4, seed=2).tokens
    e1, b1 = R.kernel_document_losses(family, one, k, 0)
    assert e1 == pytest.approx(b1)


def test_coordinate_blind_is_the_exact_predictor_with_no_examples():
    from icl_book.bayes.retrieval import posterior
    from icl_book.tasks.retrieval import RetrievalTask

    for task in (RetrievalTask(d=4, q=4, n_examples=5), RetrievalTask(d=4, q=3, n_examples=5, label_noise=0.1)):
        prompts = task.sample(200, 4)
        exact = posterior(task, prompts.tokens, prompts.query).predictive
        assert R.coordinate_blind(task, prompts)[:, 0] == pytest.approx(exact[:, 0], abs=1e-12)


def test_sparse_posterior_mean_is_exact_bayes():
    """With one subset (s = d) it is ridge with the noise as its penalty; with s = 1 the posterior over
    coordinates is each one's Gaussian evidence; without noise and more examples than s it recovers y."""
    from scipy.stats import multivariate_normal

    from icl_book.bayes import bayes_posterior_mean
    from icl_book.bayes.sparse import sparse_posterior_mean

    g = torch.Generator().manual_seed(0)
    xs, ys, xq = torch.randn(50, 4, 3, generator=g), torch.randn(50, 4, generator=g), torch.randn(50, 3, generator=g)
    assert sparse_posterior_mean(3, 0.5)(xs, ys, xq) == pytest.approx(bayes_posterior_mean(0.5)(xs, ys, xq), abs=1e-10)
    ours = sparse_posterior_mean(1, 0.7)(xs, ys, xq).numpy()
    x, y, q = xs.double().numpy(), ys.double().numpy(), xq.double().numpy()
    for b in range(5):
        ev = np.array([multivariate_normal(np.zeros(4), np.outer(x[b, :, j], x[b, :, j]) + 0.49 * np.eye(4)).logpdf(y[b])
                       for j in range(3)])
        w = np.exp(ev - ev.max())
        w /= w.sum()
        mean = [x[b, :, j] @ y[b] / (x[b, :, j] @ x[b, :, j] + 0.49) * q[b, j] for j in range(3)]
        assert ours[b] == pytest.approx(float(w @ mean), rel=1e-8)
    w_true = torch.zeros(50, 6, dtype=torch.float64)
    w_true[:, [1, 4]] = torch.randn(50, 2, generator=g, dtype=torch.float64)
    X = torch.randn(50, 5, 6, generator=g, dtype=torch.float64)
    Y = (X @ w_true[..., None])[..., 0]
    pred = sparse_posterior_mean(2)(X[:, :4], Y[:, :4], X[:, 4])
    assert pred == pytest.approx(Y[:, 4], abs=1e-5)
    assert sparse_posterior_mean(2)(X[:, :0], Y[:, :0], X[:, 0]).abs().max() == 0


def test_rules_reach_at_the_exact_reference_and_fall_short_at_the_blind_one():
    rng = np.random.default_rng(0)
    exact = rng.normal(1.4, 0.05, 64)
    blind = exact + 0.9
    at_exact = R.excess_loss("hmm-lm", exact + rng.normal(0.01, 0.005, 64), exact, blind)
    assert at_exact["reached"] and at_exact["threshold"] == pytest.approx(0.09, rel=0.05)
    at_blind = R.excess_loss("hmm-lm", blind + rng.normal(0, 0.01, 64), exact, blind)
    assert not at_blind["reached"] and at_blind["value"] == pytest.approx(0.9, abs=0.01)
    # no latent to infer (gain 0): the floor
    none = R.excess_loss("hmm-lm", exact + 0.05, exact, exact)
    assert none["threshold"] == R.NATS_FLOOR and not none["reached"]
    # an interval that straddles the threshold is short
    straddle = R.excess_loss("retrieval", exact + rng.normal(0.09, 0.2, 64), exact, blind)
    assert straddle["lo"] < straddle["threshold"] < straddle["hi"] and not straddle["reached"]
    err = rng.exponential(1.0, 500)
    assert R.error_ratio(err, err, err + 4)["reached"]
    assert not R.error_ratio(err + 4, err, err + 4)["reached"]


def test_plateau_gain_is_the_last_quarters_slope():
    steps = np.arange(100, 2401, 100)
    rising = 0.5 + 0.0002 * steps                     # 0.12 per quarter of 2,400 steps
    m = R.plateau_gain(steps, rising + 1e-4 * np.sin(steps), 2400)
    assert m["value"] == pytest.approx(0.12, rel=0.01) and not m["reached"]
    flat = np.minimum(rising, 0.8) + np.random.default_rng(1).normal(0, 0.002, len(steps))
    assert R.plateau_gain(steps, flat, 2400)["reached"]
    with pytest.raises(ValueError, match="at least 3"):
        R.plateau_gain([100, 2400], [0.5, 0.6], 2400)


def test_every_trained_experiment_has_a_regime_family():
    from icl_book.experiments import EXPERIMENTS
    from icl_book.experiments.regime import MEASURES, family_of

    for exp in EXPERIMENTS.values():
        family = family_of(exp.name)
        if exp.compute is None:
            assert family in MEASURES and family in R.REGIMES, exp.name
        else:
            assert family is None, exp.name
    assert set(MEASURES) == set(R.REGIMES)


def test_the_stored_regime_covers_every_shipped_model_on_its_weights():
    """``regime-cpu`` holds a measure for every trained cpu artifact, read on the weights that ship: a
    retrained model must have its regime measured again (``icl-book train regime --profile cpu``)."""
    from icl_book.experiments.regime import trained_artifacts
    from icl_book.store import PACKAGE_STORE, ArtifactStore

    store = ArtifactStore(PACKAGE_STORE)
    table = store.results("regime-cpu")["evaluation"]["artifacts"]
    for name in trained_artifacts(store, "cpu"):
        assert name in table, name
        assert table[name]["weights_sha256"] == store.entry(name)["files"]["weights.safetensors"], name
        m = table[name]
        assert m["lo"] <= m["value"] <= m["hi"] and m["reached"] == (m["hi"] <= m["threshold"])


@pytest.mark.parametrize("name", ["taskdiv-m4-cpu", "retrieval-d2q8-cpu", "kernel-pool-m1-cpu"])
def test_a_stored_regime_recomputes_to_the_same_numbers(name):
    """The regime's data come from its own seed: measuring a shipped model again gives its stored row."""
    from icl_book.experiments import get
    from icl_book.experiments.regime import measure_artifact
    from icl_book.store import PACKAGE_STORE, ArtifactStore

    store = ArtifactStore(PACKAGE_STORE)
    stored = store.results("regime-cpu")["evaluation"]["artifacts"][name]
    again = measure_artifact(store, name, get("regime").profile("cpu").task)
    for key in ("value", "lo", "hi", "threshold"):
        assert again[key] == pytest.approx(stored[key], rel=1e-6, abs=1e-9), key
    assert again["reached"] == stored["reached"] and again["compute"] == stored["compute"]
