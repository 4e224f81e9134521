"""The kernel-regression chapter: belief features, the estimator, its identity and its rate, the exact
posterior over (concept, start) tasks, the hand-built kernel-regression transformer and the analyses."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from icl_book.bayes import forward_filter
from icl_book.bayes import kernel_regression as kr
from icl_book.tasks import GINCConfig, build_hmms, make_prompts

SMALL = GINCConfig(vocab_size=12, n_entities=2, n_properties=3, n_concepts=3, n_pretrain_concepts=3, seed=3)


@pytest.fixture(scope="module")
def family():
    return kr.TaskFamily.from_ginc_concepts(build_hmms(SMALL))


def _path_probability(family, c, tokens):
    """Brute force: P(tokens | c) summed over every hidden path, and the next-token distribution."""
    T, S = family.transitions()[c], family.n_states
    joint_last = np.zeros(S)
    for path in itertools.product(range(S), repeat=len(tokens)):
        if any(family.state_tokens[h] != o for h, o in zip(path, tokens)):
            continue
        pr = family.start[c, path[0]] * np.prod([T[a, b] for a, b in zip(path, path[1:])])
        joint_last[path[-1]] += pr
    nxt = np.zeros(family.n_tokens)
    np.add.at(nxt, family.state_tokens, joint_last @ T)
    return joint_last.sum(), nxt / max(joint_last.sum(), 1e-300)


def test_beliefs_match_brute_force_and_the_forward_filter(family):
    rng = np.random.default_rng(0)
    x = kr.sample_examples(family, rng.integers(3, size=6), 1, 3, seed=1)[:, 0]      # [6, 3]
    alpha, ll = kr.beliefs(family, x)
    pred = kr.task_predictive(family, x)                                             # [6, C, V+1]
    for i, c in itertools.product(range(6), range(family.n_tasks)):
        lik, nxt = _path_probability(family, c, x[i])
        assert np.exp(ll[i, c]) == pytest.approx(lik, rel=1e-10)
        np.testing.assert_allclose(pred[i, c], nxt, atol=1e-12)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-12)
    ll_ff, nxt_ff = forward_filter(x, family.entity_transition, family.property_transitions[:, None],
                                   family.start[:, None], family.state_tokens, family.n_tokens)
    np.testing.assert_allclose(ll_ff.T, ll, atol=1e-10)
    np.testing.assert_allclose(nxt_ff.transpose(1, 0, 2), pred, atol=1e-12)


def test_features_make_the_predictive_linear(family):
    x = kr.sample_examples(family, np.arange(3), 4, 3, seed=2)[:, :, :2].reshape(-1, 2)
    phi = kr.features(family, x)
    pred = kr.task_predictive(family, x)
    for c in range(family.n_tasks):
        np.testing.assert_allclose(phi @ kr.feature_readout(family, c).T, pred[:, c], atol=1e-12)


def test_sampled_examples_follow_the_task(family):
    """Empirical frequencies of 20,000 sampled 2-token examples against their exact probabilities."""
    ex = kr.sample_examples(family, np.array([1]), 20_000, 2, seed=5)[0]
    seqs, counts = np.unique(ex, axis=0, return_counts=True)
    _, ll = kr.beliefs(family, seqs)
    p = np.exp(ll[:, 1])
    assert p.sum() == pytest.approx(1.0, abs=0.02)            # nearly every possible pair was drawn
    se = np.sqrt(p * (1 - p) / 20_000)
    assert np.all(np.abs(counts / 20_000 - p) < 5 * se + 1e-4)


def test_posterior_predictive_matches_brute_force(family):
    tasks = np.array([0, 2, 1])
    ex = kr.sample_examples(family, tasks, 3, 3, seed=7)
    xt = kr.sample_examples(family, tasks, 1, 3, seed=8)[:, 0, :2]
    post = kr.posterior_predictive(family, ex, xt)
    for p in range(3):
        log_w = np.array([sum(np.log(_path_probability(family, c, e)[0]) for e in ex[p])
                          + np.log(_path_probability(family, c, xt[p])[0]) for c in range(3)])
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        np.testing.assert_allclose(post.posterior[p], w, atol=1e-10)
        mix = sum(w[c] * _path_probability(family, c, xt[p])[1] for c in range(3))
        np.testing.assert_allclose(post.probs[p], mix, atol=1e-10)
    grid = kr.posterior_predictive(family, ex, xt, n_grid=[0, 2, 3])
    np.testing.assert_allclose(grid[2].probs, post.probs, atol=1e-12)
    np.testing.assert_allclose(grid[0].posterior, kr.posterior_predictive(family, ex[:, :0], xt).posterior)


def test_prompt_family_is_the_generators_prompt_distribution():
    """Tasks (θ, s0) reproduce make_prompts' labels exactly, and their minimum transition is positive."""
    g = build_hmms(GINCConfig())
    fam = kr.TaskFamily.from_ginc_prompts(g)
    pr = make_prompts(g, 3, 4, 100, seed=1)
    ex, xt = kr.split_prompts(pr.tokens, 3, 4)
    post = kr.posterior_predictive(fam, ex, xt)
    tid = fam.task_of(pr.concepts, pr.start_property)
    np.testing.assert_allclose(post.task_probs[np.arange(100), tid], pr.label_probs, atol=1e-12)
    assert fam.min_transition() > 0
    assert kr.TaskFamily.from_ginc_prompts(build_hmms(GINCConfig.released_code())).min_transition() == 0
    with pytest.raises(ValueError, match="not a task"):
        fam.task_of([0], [0])


def test_expected_estimate_is_the_task_predictive_exactly(family):
    """E[ŷ] computed by enumerating every (x, y) with Σ_q: P(· | x_test, θ*); with Σ_pre it is off by the
    bias term W Σ_q (Σ_pre⁺ - Σ_q⁺) φ(x_test), which is not zero."""
    sigma = kr.task_covariances(family, 2)
    seqs = np.array(list(itertools.product(np.unique(family.state_tokens), repeat=2)))
    phi = kr.features(family, seqs)
    _, ll = kr.beliefs(family, seqs)
    pred = kr.task_predictive(family, seqs)
    inv_q, inv_p = kr.pinv(sigma), kr.pinv(sigma.mean(0))
    xt = seqs[np.exp(ll[:, 0]) > 1e-3][:5]
    phi_t = kr.features(family, xt)
    for c in range(family.n_tasks):
        W = kr.feature_readout(family, c)
        cross = np.einsum("n,nv,nf->vf", np.exp(ll[:, c]), pred[:, c], phi)          # E[e(y) φ(x)ᵀ]
        np.testing.assert_allclose(cross, W @ sigma[c], atol=1e-12)
        if c == 0:
            np.testing.assert_allclose(phi_t @ (cross @ inv_q[c]).T, kr.task_predictive(family, xt)[:, c],
                                       atol=1e-8)
            off = phi_t @ (cross @ inv_p).T - kr.task_predictive(family, xt)[:, c]
            bias = kr.pretraining_bias(sigma[c], inv_p, inv_q[c], W, phi_t)
            np.testing.assert_allclose(off, bias, atol=1e-8)
            assert np.abs(bias).max() > 1e-3


def test_symbolic_identity():
    r = kr.symbolic_identity()
    assert all(v == 0 for v in r["residual_task"]) and all(v == 0 for v in r["residual_pre"])
    assert any(v != 0 for v in r["bias"])


def test_vectorised_estimator_equals_the_loop():
    rng = np.random.default_rng(0)
    P, n, F, V = 5, 9, 4, 6
    phi_x, phi_t = rng.normal(size=(P, n, F)), rng.normal(size=(P, F))
    labels = rng.integers(V, size=(P, n))
    a = rng.normal(size=(3, F, F))
    sig = a @ a.transpose(0, 2, 1)
    tasks = rng.integers(3, size=P)
    for s_inv, t in ((sig[0], None), (sig, tasks)):
        for norm in (False, True):
            fast = kr.kernel_regression(phi_x, labels, phi_t, s_inv, V, (1, 4, 9), normalised=norm, tasks=t)
            slow = kr.kernel_regression_loop(phi_x, labels, phi_t, s_inv, V, (1, 4, 9), normalised=norm, tasks=t)
            np.testing.assert_allclose(fast.estimate, slow, atol=1e-10)
    with pytest.raises(ValueError, match="shapes"):
        kr.kernel_regression(phi_x, labels[:, :3], phi_t, sig[0], V)
    with pytest.raises(ValueError, match="needs tasks"):
        kr.kernel_regression(phi_x, labels, phi_t, sig, V)


def test_task_covariance_estimator_converges_at_the_root_rate_and_the_pretraining_one_levels_off():
    setting = dataclasses.replace(kr.WELL_CONDITIONED, n_grid=(16, 64, 256, 1024, 4096), n_prompts=100, seed=1)
    r = kr.convergence(setting)
    slope = kr.loglog_slope(r["n"], r["task_distance_to_task"])
    assert -0.7 < slope < -0.35, slope
    assert kr.loglog_slope(r["n"][-3:], r["pre_distance_to_task"][-3:]) > -0.2     # the bias floor
    assert r["pre_distance_to_task"][-1] > 2 * r["task_distance_to_task"][-1]
    assert r["bayes_distance_to_task"][-1] < 1e-3


def test_bad_inputs_fail_with_one_line(family):
    with pytest.raises(ValueError, match="x_test must be"):
        kr.posterior_predictive(family, np.zeros((2, 3, 3), dtype=int), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="integer array"):
        kr.beliefs(family, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="n >= 1 and k >= 2"):
        kr.sample_examples(family, np.array([0]), 0, 3, seed=0)
    with pytest.raises(ValueError, match="split_prompts"):
        kr.split_prompts(np.zeros((2, 5), dtype=int), 3, 4)


# ---- the hand-built kernel-regression transformer and the analyses --------------------------------

from icl_book.analysis import kernel_regression as ka  # noqa: E402
from icl_book.analysis.model_reader import book_reader, read_model  # noqa: E402
from icl_book.tasks import perturbations as tp  # noqa: E402
from icl_book.tasks.ginc import example_spans  # noqa: E402
from icl_book.models.constructions import kernel_inputs, kernel_regression_transformer  # noqa: E402
from icl_book.models.constructions.kernel_regression import KERNEL_HEAD  # noqa: E402


@pytest.fixture(scope="module")
def planted(family):
    """Random prompts of the small family, their features, and the hand-built model's reading."""
    tasks = np.random.default_rng(4).integers(3, size=200)
    ex = kr.sample_examples(family, tasks, 12, 3, seed=9)
    xt = kr.sample_examples(family, tasks, 1, 3, seed=10)[:, 0, :2]
    phi_x, phi_t, labels = kr.features(family, ex[..., :2]), kr.features(family, xt), ex[..., 2]
    sigma_inv = kr.pinv(kr.task_covariances(family, 2).mean(0))
    model = kernel_regression_transformer(sigma_inv, family.n_tokens, n_ctx=13, beta=0.5)
    inputs = kernel_inputs(phi_x, labels, phi_t, family.n_tokens)
    return dict(phi_x=phi_x, phi_t=phi_t, labels=labels, sigma_inv=sigma_inv, model=model, inputs=inputs,
                reading=read_model(model, inputs, keep_kv=True))


def test_hand_built_transformer_is_the_kernel_estimator(planted, family):
    for beta in (0.5, 3.0):
        model = kernel_regression_transformer(planted["sigma_inv"], family.n_tokens, n_ctx=13, beta=beta)
        with torch.no_grad():
            out = model(planted["inputs"])[:, -1].numpy()
        ref = kr.softmax_kernel_regression(planted["phi_x"], planted["labels"], planted["phi_t"],
                                           planted["sigma_inv"], family.n_tokens, beta=beta)
        np.testing.assert_allclose(out, ref, atol=1e-12)
    # first order in beta: (ŷ_β - ȳ) / β -> (1/n) Σ e K - ȳ K̄, the paper's estimator minus ȳ K̄
    beta = 1e-5
    soft = kr.softmax_kernel_regression(planted["phi_x"], planted["labels"], planted["phi_t"],
                                        planted["sigma_inv"], family.n_tokens, beta=beta)
    lin = kr.kernel_regression(planted["phi_x"], planted["labels"], planted["phi_t"], planted["sigma_inv"],
                               family.n_tokens, n_grid=[12])
    ybar = np.eye(family.n_tokens)[planted["labels"]].mean(1)
    kbar = lin.weights.mean(1, keepdims=True)
    np.testing.assert_allclose((soft - ybar) / beta, lin.estimate[0] - ybar * kbar, atol=1e-3)
    with pytest.raises(ValueError, match="beta > 0"):
        kernel_regression_transformer(planted["sigma_inv"], family.n_tokens, 13, beta=0.0)


def test_head_vote_finds_the_planted_head(planted, family):
    r = planted["reading"]
    spans = np.stack([np.arange(12), np.arange(12) + 1], axis=1)       # one position per demonstration
    votes = ka.head_votes(r.attention, spans, planted["labels"], family.n_tokens)
    best = ka.select_head(votes, r.prediction, n_select=140)
    assert (best["layer"], best["head"]) == (0, KERNEL_HEAD)
    assert best["agreement"] == 1.0 and best["selection_agreement"] == 1.0
    others = np.array(best["held_out_by_head"])[0]
    assert others[1] < 1.0 and others[2] < 1.0                            # the decoys disagree
    with pytest.raises(ValueError, match="n_select"):
        ka.select_head(votes, r.prediction, n_select=200)


def test_kernel_correlation_singles_out_the_kernel_head(planted, family):
    r = planted["reading"]
    spans = np.stack([np.arange(12), np.arange(12) + 1], axis=1)
    K = np.einsum("pnf,pf->pn", planted["phi_x"], planted["phi_t"] @ planted["sigma_inv"])
    w = np.exp(0.5 * (K - K.max(1, keepdims=True)))
    corr = ka.kernel_correlation(r.attention, spans, w / w.sum(1, keepdims=True))
    assert corr[0, KERNEL_HEAD] == pytest.approx(1.0, abs=1e-9) and corr[0, 2] < 0 and abs(corr[0, 1]) < 1e-6


def test_ridge_probe_recovers_a_planted_linear_code():
    rng = np.random.default_rng(0)
    y = rng.integers(5, size=2000)
    code = rng.normal(size=(5, 16))
    X = code[y] + 0.3 * rng.normal(size=(2000, 16))
    assert ka.ridge_probe(X, y, 5, 1400) > 0.95
    assert ka.ridge_probe(rng.normal(size=(2000, 16)), y, 5, 1400) < 0.35       # no code: chance
    with pytest.raises(ValueError, match="n_train"):
        ka.ridge_probe(X, y, 5, 0)
    # a probe that learned nothing says the commonest training target
    assert ka.majority_rate(np.array([0, 0, 1, 0, 1, 0, 1]), 4) == pytest.approx(1 / 3)


def test_values_of_the_hand_built_model_encode_the_labels(planted, family):
    r = planted["reading"]
    n_train = int(0.7 * len(planted["labels"]))
    acc = ka.probe_grid(r.values, np.arange(12)[None], planted["labels"], family.n_tokens, n_train)
    assert acc[0, KERNEL_HEAD, 0] == 1.0
    assert ka.majority_rate(planted["labels"], n_train * 12) < 0.5          # far below the planted code


def test_attention_profile_and_spans():
    k, n = 3, 4
    T = n * (k + 1) + k - 1
    att = np.zeros((2, 1, 1, T))
    att[..., example_pos := example_spans_y(k, n)] = 0.25
    prof = ka.attention_profile(att, k, n, n_points=5)
    assert prof["y"] == [0.25] and prof["delimiter"] == [0.0] and np.allclose(prof["x"], 0)
    np.testing.assert_array_equal(example_spans(3, 2), [[0, 3], [4, 7]])
    with pytest.raises(ValueError, match="not a prompt"):
        ka.attention_profile(att[..., :-1], k, n)


def example_spans_y(k, n):
    return example_spans(k, n)[:, 0] + k - 1


def test_analysis_pipeline_and_controls_on_a_smoke_model(tmp_path):
    from icl_book import experiments
    from icl_book.experiments.kernel_regression import KernelAnalysis, _exact_predictions, kernel_controls
    from icl_book.store import ArtifactStore

    store = ArtifactStore(tmp_path / "store")
    experiments.run("kernel-hmm", "smoke", store=store, run_root=tmp_path / "runs", progress=False)
    results, model = store.results("kernel-hmm-smoke"), store.model("kernel-hmm-smoke").eval()
    ev = results["evaluation"]
    assert ev["min_transition"] > 0 and len(ev["model_accuracy"]) == len(ev["n"])
    assert ev["bayes_accuracy"][-1] > ev["bayes_accuracy"][0]          # in-context evidence helps Bayes
    hmm = GINCConfig(**results["task"]["hmm"])
    pr = make_prompts(build_hmms(hmm), 3, 8, 60, seed=3)
    bayes = _exact_predictions(results["task"], pr.tokens, 3, 8)
    r = ka.analyse_prompts(book_reader(model), pr.tokens, pr.labels, bayes, 3, 8, hmm.model_vocab_size, 40)
    assert r["bayes_accuracy"] == pytest.approx(np.mean(bayes == pr.labels))
    assert np.array(r["probe_values_label"]).shape == (2, 2, 5)
    assert 0 <= r["best_head"]["agreement"] <= 1 and len(r["layer_best"]) == 2
    a = KernelAnalysis(n_prompts=40, control_n=4, control_pool=8, order_sets=2, order_tests=5)
    c = kernel_controls(model, hmm, a, (r["best_head"]["layer"], r["best_head"]["head"]), 3)
    assert set(c) >= {"clean", "random_labels", "permuted_labels", "substituted_inputs", "retrieved_similar", "order",
                      "rare_inputs"}
    assert len(c["order"]["model_spread"]) == 2


def test_prompt_controls_change_what_they_say():
    g = build_hmms(SMALL)
    pr = make_prompts(g, 3, 6, 50, seed=0)
    letters = np.arange(2, 13)
    pos = example_spans(3, 6)[:, 0] + 2
    perm = tp.relabel(pr.tokens, 3, 6, "permute", letters, seed=0)
    np.testing.assert_array_equal(np.sort(perm[:, pos], 1), np.sort(pr.tokens[:, pos], 1))
    other = np.setdiff1d(np.arange(pr.tokens.shape[1]), pos)
    np.testing.assert_array_equal(perm[:, other], pr.tokens[:, other])
    rand = tp.relabel(pr.tokens, 3, 6, "random", letters, seed=0)
    assert np.isin(rand[:, pos], letters).all() and (rand[:, pos] != pr.tokens[:, pos]).mean() > 0.5
    sub = tp.substitute_inputs(pr.tokens, 3, 6, 1.0, np.array([7]), seed=0)
    xs = (example_spans(3, 6)[:, :1] + np.arange(2)).reshape(-1)
    assert (sub[:, xs] == 7).all() and (sub[:, pos] == pr.tokens[:, pos]).all()
    np.testing.assert_array_equal(sub[:, -2:], pr.tokens[:, -2:])
    sim = tp.retrieve(pr.tokens, 3, 6, 2, "similar")
    assert sim.shape == (50, 2 * 4 + 2)
    # every chosen demonstration matches x_test's last token at least as often as a random pick
    last = lambda t: (t[:, [1, 5]] == t[:, -1:]).mean()                                  # noqa: E731
    assert last(sim) >= last(tp.retrieve(pr.tokens, 3, 6, 2, "random"))
    with pytest.raises(ValueError, match="mode"):
        tp.relabel(pr.tokens, 3, 6, "flip", letters, seed=0)


def test_hf_adapter_on_a_tiny_random_gpt2():
    transformers = pytest.importorskip("transformers")
    from icl_book.analysis.hf import hf_cache, hf_reader

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=20, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.config._attn_implementation = "eager"                        # attention weights are returned
    tokens = torch.randint(20, (3, 14))
    logits, cache = hf_cache(model, tokens)
    assert logits.shape == (3, 14, 20)
    for i in range(2):
        p = cache[f"blocks.{i}.attn.pattern"]
        assert p.shape == (3, 2, 14, 14)
        torch.testing.assert_close(p.sum(-1), torch.ones(3, 2, 14))
        assert torch.all(p.triu(1) == 0)                                  # causal
        # the key and value caches are the layer's own projections of its normed input
        block = model.transformer.h[i]
        qkv = block.attn.c_attn(block.ln_1(cache["embed"] if i == 0 else cache[f"blocks.{i - 1}.resid_post"]))
        _, k, v = qkv.split(16, dim=-1)
        heads = lambda t: t.view(3, 14, 2, 8).transpose(1, 2)            # noqa: E731
        torch.testing.assert_close(cache[f"blocks.{i}.attn.k"], heads(k))
        torch.testing.assert_close(cache[f"blocks.{i}.attn.v"], heads(v))
    # the kernel-regression analyses run on it unchanged (k = 3, n = 3: 3 * 4 + 2 = 14 tokens)
    reading = hf_reader(model)(tokens.numpy(), np.array([2, 3, 6]))
    assert reading.attention.shape == (3, 2, 2, 14) and reading.keys.shape == (3, 2, 2, 3, 8)
    votes = ka.head_votes(reading.attention, example_spans(3, 3), tokens.numpy()[:, [2, 6, 10]], 20)
    assert votes.shape == (3, 2, 2)
    with pytest.raises(ValueError, match="token ids"):
        hf_cache(model, tokens[0])


# ---- the chapter's claims: each rule passes a right value and fails a wrong one ------------------

def _fake_results(slope=-0.5, floor=3.0, agree=0.75, majority=0.3, layer=6, probe=0.9, gain=0.05, drop=0.2,
                  explained=0.1, paper_distance=0.08, paper_accuracy=0.96, null=0.2):
    n = [16, 64, 256, 1024]
    task = [2.0 * (m / 16) ** slope for m in n]
    probes = np.full((2, 2, 5), 0.1)
    probes[1, 0, :] = probe
    controls = {kind: {"model": 0.6} for kind in ("clean", "random_labels", "permuted_labels")}
    controls["retrieved_similar"] = {"model": 0.6 + gain}
    controls["substituted_inputs"] = {"model": 0.6 - drop}
    controls["order"] = {"explained_by_head": explained}
    model = {"best_head": {"agreement": agree, "layer": layer, "head": 0}, "majority_vote_agreement": majority,
             "layer_best": [0.0] * 12, "probe_offsets": [-1, 0, 1, 2, 3], "probe_values_label": probes.tolist(),
             "probe_keys_own_prediction": probes.tolist(), "controls": controls,
             "probe_null": {"values_label": null, "keys_own_prediction": null}}
    return {"evaluation": {
        "table3": {"well_conditioned": {"n": n, "task_distance_to_task": task,
                                        "pre_distance_to_task": [t * floor for t in task]},
                   "paper": {"task_distance_to_bayes": [paper_distance], "task_accuracy": [paper_accuracy]}},
        "models": {"kernel-hmm-cpu": model, "ginc-12l-cpu": model}}}


@pytest.mark.parametrize("claim_id, good, bad", [
    ("table3-rate", dict(slope=-0.5), dict(slope=0.0)),
    ("table3-floor", dict(floor=3.0), dict(floor=1.0)),
    ("table3-paper-distance", dict(paper_distance=0.09), dict(paper_distance=2.0)),
    ("table3-paper-accuracy", dict(paper_accuracy=0.95), dict(paper_accuracy=0.2)),
    ("best-head-agreement", dict(agree=0.7), dict(agree=0.2)),
    ("best-head-above-majority", dict(agree=0.7, majority=0.3), dict(agree=0.3, majority=0.35)),
    ("head-location", dict(layer=6), dict(layer=0)),
    ("probe-values", dict(probe=0.9), dict(probe=0.25)),            # bad: barely above the commonest label
    ("probe-keys", dict(probe=0.9), dict(probe=0.8, null=0.78)),    # bad: the commonest prediction is 0.78
    ("retrieval", dict(gain=0.05), dict(gain=-0.02)),
    ("ood", dict(drop=0.2), dict(drop=-0.01)),
    ("order", dict(explained=0.1), dict(explained=0.95)),
])
def test_kernel_claims_pass_and_fail(claim_id, good, bad):
    from icl_book import claims

    spec = claims.REGISTRY[f"kernel_regression.{claim_id}.cpu"]
    assert spec.judge(spec.compute(_fake_results(**good))) == "reproduced"
    assert spec.judge(spec.compute(_fake_results(**bad))) == "not reproduced"


def test_kernel_claims_are_registered_for_the_chapter():
    from icl_book import claims

    ours = [s for s in claims.REGISTRY.values() if s.chapter == "kernel_regression"]
    assert sorted({s.source for s in ours}) == ["kernel-analysis-cpu", "kernel-hmm-cpu", "kernel-hmm-paper"]
    assert sum(s.source == "kernel-analysis-cpu" for s in ours) == 12


def test_the_chapters_model_learns_in_context_as_bayes_does():
    from icl_book import claims

    spec = claims.REGISTRY["kernel_regression.learns-in-context.cpu"]
    ev = lambda model: {"evaluation": {"model_accuracy": model, "bayes_accuracy": [0.7, 0.8, 0.95]}}
    assert spec.judge(spec.compute(ev([0.65, 0.8, 0.9]))) == "reproduced"         # gains 0.25 of Bayes's 0.25
    assert spec.judge(spec.compute(ev([0.7, 0.72, 0.72]))) == "not reproduced"     # stays near its zero-shot


def test_substitution_at_chosen_offsets_only():
    pr = make_prompts(build_hmms(SMALL), 4, 5, 30, seed=2)
    sub = tp.substitute_inputs(pr.tokens, 4, 5, 1.0, np.array([9]), seed=0, offsets=[2])
    starts = example_spans(4, 5)[:, 0]
    assert (sub[:, starts + 2] == 9).all()
    np.testing.assert_array_equal(sub[:, starts], pr.tokens[:, starts])
    np.testing.assert_array_equal(sub[:, starts + 1], pr.tokens[:, starts + 1])
    with pytest.raises(ValueError, match="offsets"):
        tp.substitute_inputs(pr.tokens, 4, 5, 1.0, np.array([9]), seed=0, offsets=[3])


def test_exact_prediction_marks_the_prompts_no_task_can_emit():
    from icl_book.tasks.ginc import DELIMITER_ID
    ginc = build_hmms(SMALL)
    family = kr.TaskFamily.from_ginc_prompts(ginc)
    pr = make_prompts(ginc, 3, 4, 40, seed=2)
    broken = pr.tokens.copy()
    broken[:5, 0] = DELIMITER_ID                    # a start state never emits the delimiter
    pred, possible = kr.exact_prediction(family, broken, 3, 4)
    assert not possible[:5].any() and (pred[:5] == -1).all() and possible[5:].all()
    ex, xt = kr.split_prompts(pr.tokens[5:], 3, 4)
    assert np.array_equal(pred[5:], kr.posterior_predictive(family, ex, xt).prediction)
