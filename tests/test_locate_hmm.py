"""The locate-and-project lens on the kernel-regression chapter's HMM prompts (``locate.hmm_report``
and the generic pieces under it): the logit difference adds up to the model's own on HMM prompts, a
hand-built model whose one copying head is located, ablated and projected with known answers, and
the two-tower summaries against loops."""

import json

import numpy as np
import pytest
import torch

from conftest import perturbed_transformer
from icl_book.analysis import locate as L
from icl_book.models import Transformer, TransformerConfig
from icl_book.tasks import GINCConfig, build_hmms, make_prompts

K = 3
HMM = GINCConfig(vocab_size=20, n_entities=3, n_properties=4, n_concepts=4, n_pretrain_concepts=2)


def hmm_prompts(n, n_prompts, seed):
    return make_prompts(build_hmms(HMM), K, n, n_prompts, seed=seed)


@pytest.fixture(scope="module")
def random_model():
    """A random model on the HMM vocabulary with its norms and biases away from their defaults,
    so that every term of the decomposition counts."""
    return perturbed_transformer(TransformerConfig(n_layer=2, n_head=3, d_model=24, n_ctx=8 * (K + 1) + K - 1,
                                                   vocab_size=HMM.model_vocab_size), seed=1, scale=6)


def test_the_logit_difference_adds_up_to_the_models_own_on_hmm_prompts(random_model):
    pr = hmm_prompts(6, 40, 0)
    logits = L.last_logits(random_model, pr.tokens)
    target = torch.from_numpy(pr.labels)
    rival = L.top_other(logits, target)
    imp = L.importance(random_model, pr.tokens, target, rival, sources=True, chunk=16)
    b = torch.arange(len(target))
    own = (logits[b, target] - logits[b, rival]).numpy()
    assert np.allclose(imp.total_ld, own, atol=1e-9)
    assert (imp.total_ld >= 0).sum() == (logits.argmax(-1) == target).sum()       # rival is the best other token
    parts = imp.embed_ld + imp.attn_ld.sum(1) + imp.mlp_ld.sum(1) + imp.bias_ld
    assert np.allclose(parts, imp.total_ld, atol=1e-9)
    assert np.allclose(imp.source_ld.sum(-1), imp.head_ld, atol=1e-9)
    # Leaving out a component breaks the identity: the check can fail.
    assert not np.allclose(parts - imp.mlp_ld[:, 1], imp.total_ld, atol=1e-3)


def test_top_other_is_the_best_other_token_by_brute_force():
    logits = torch.randn(50, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target = torch.randint(0, 7, (50,), generator=torch.Generator().manual_seed(4))
    got = L.top_other(logits, target)
    for row, t, o in zip(logits, target, got):
        best = max((v, j) for j, v in enumerate(row.tolist()) if j != int(t))[1]
        assert int(o) == best != int(t)


# ---- a hand-built model: one head copies the prompt's tokens, another writes their successors ----

N_DEMOS, T = 8, 8 * (K + 1) + K - 1
V1, COPY, SHIFT = 21, 60.0, 1.0


def copy_model():
    """One layer, two heads, no norms, no MLP, one-hot token embeddings tied to the unembedding
    and no position embedding. Both heads have zero queries and keys, so they attend evenly over
    the prefix. Head 0's OV copies the token it reads (times ``COPY``), head 1's writes the next
    token id (times ``SHIFT``). At the last token the logits are ``e(last) + (COPY counts[t] +
    SHIFT counts[t - 1]) / T``: the model answers the prompt's commonest token."""
    cfg = TransformerConfig(n_layer=1, n_head=2, d_model=64, n_ctx=T, vocab_size=V1, layer_norm=False)
    model = Transformer(cfg).double().eval()
    D, Dh = cfg.d_model, cfg.d_head
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.weight[:, :V1] = torch.eye(V1, dtype=torch.float64)
        attn = model.blocks[0].attn
        for head in range(2):
            attn.qkv.weight[2 * D + head * Dh + torch.arange(V1), torch.arange(V1)] = 1.0   # v = the token
        attn.out.weight[torch.arange(V1), torch.arange(V1)] = COPY
        attn.out.weight[(torch.arange(V1) + 1) % V1, Dh + torch.arange(V1)] = SHIFT
    return model


def commonest_token_prompts(n_prompts, seed):
    """Random tokens in the prompt layout whose commonest token is unique (the hand-built model's
    answer), with that token as the label."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, V1, size=(4 * n_prompts, T))
    counts = np.stack([np.bincount(row, minlength=V1) for row in tokens])
    top = np.sort(counts, 1)
    keep = np.flatnonzero(top[:, -1] > top[:, -2])[:n_prompts]
    return tokens[keep], counts[keep].argmax(1), counts[keep]


def test_the_copying_head_is_located_ablated_and_projected_with_known_answers():
    model = copy_model()
    tokens, labels, counts = commonest_token_prompts(200, 5)
    rep = L.hmm_report(model, tokens, labels, K, N_DEMOS, n_random=10)
    json.dumps(rep)
    assert rep["accuracy"] == 1.0 and rep["located"] == [[0, 0]] and rep["top_head"] == [0, 0]
    assert rep["heads_fraction"] == 0.5
    # The copying head's logit difference, computed from the counts: COPY (counts[w] - counts[w']) / T.
    logits = torch.from_numpy(np.eye(V1)[tokens[:, -1]] + (COPY * counts + SHIFT * np.roll(counts, 1, 1)) / T)
    rival = L.top_other(logits, torch.from_numpy(labels)).numpy()
    rows = np.arange(len(labels))
    expected = COPY * (counts[rows, labels] - counts[rows, rival]) / T
    assert np.allclose(np.array(rep["head_ld"])[0, 0], expected.mean(), atol=1e-9)
    # Without the copying head the model answers e(last) + SHIFT counts[t - 1] / T, which is
    # seldom the commonest token; without the other one it still answers right.
    no_copy = (np.eye(V1)[tokens[:, -1]] + SHIFT * np.roll(counts, 1, 1) / T).argmax(1) == labels
    assert rep["ablated_accuracy"] == pytest.approx(no_copy.mean()) and rep["ablated_accuracy"] < 0.5
    # A random set of one head is either of them: the random mean mixes those two accuracies in
    # tenths (10 draws).
    mix = (1.0 - rep["random_ablated_accuracy"]) / (1.0 - no_copy.mean()) * 10
    assert mix == pytest.approx(round(mix), abs=1e-9) and 0 <= round(mix) <= 10
    # Projection: head 0's value-output reads as the token it sits on, labels and inputs alike;
    # head 1's as the next token, never the label.
    assert rep["value_output_share"] == 1.0 and rep["value_output_input_share"] == 1.0
    assert rep["value_output_hit"][0][1] == 0.0
    demo_labels = tokens[:, np.arange(N_DEMOS) * (K + 1) + K - 1]
    assert rep["value_output_chance"] == pytest.approx(np.bincount(demo_labels.ravel()).max() / demo_labels.size)
    # Even attention: the label positions get n / T of it, relevant ones no more than the rest
    # (to rounding: the paired difference of equal weights is zero to 1e-15, not bit for bit).
    assert rep["label_mass"] == pytest.approx(N_DEMOS / T) == rep["label_mass_chance"]
    alpha = L.attention_at(model, tokens, np.arange(N_DEMOS) * (K + 1) + K - 1)["alpha"]
    for name, rel in L.hmm_relevance(tokens, labels, K, N_DEMOS).items():
        r = rep["relevance"][name]
        assert r["defined"] > 0 and r["qk_gap"] == 0.0, name
        assert r["same_share"] == pytest.approx(r["same_share_chance"]), name
        assert np.nanmax(np.abs(L.tower_split(alpha, rel)["paired"])) < 1e-15


def test_relevance_matches_a_loop_over_demonstrations():
    pr = hmm_prompts(5, 30, 1)
    rel = L.hmm_relevance(pr.tokens, pr.labels, K, 5)
    for p in range(30):
        x_test = list(pr.tokens[p, -(K - 1):])
        for i in range(5):
            x, y = list(pr.tokens[p, i * (K + 1):i * (K + 1) + K - 1]), pr.tokens[p, i * (K + 1) + K - 1]
            assert rel["same_input"][p, i] == (x == x_test)
            assert rel["same_last_input"][p, i] == (x[-1] == x_test[-1])
            assert rel["same_label"][p, i] == (y == pr.labels[p])
    assert rel["same_input"].any() and not rel["same_input"].all()


def test_tower_split_and_score_gap_match_loops():
    rng = np.random.default_rng(2)
    alpha = rng.dirichlet(np.ones(6), size=(40, 2, 3))[..., :5]                    # [B, L, H, n], mass < 1
    relevant = rng.random((40, 5)) < 0.4
    relevant[0], relevant[1] = True, False                                          # undefined prompts
    split = L.tower_split(alpha, relevant)
    for b in range(40):
        s = relevant[b]
        for layer in range(2):
            for head in range(3):
                a = alpha[b, layer, head]
                assert split["label_mass"][b, layer, head] == pytest.approx(a.sum())
                assert split["same_share"][b, layer, head] == pytest.approx(a[s].sum() / a.sum())
                if s.any() and (~s).any():
                    assert split["paired"][b, layer, head] == pytest.approx(a[s].mean() - a[~s].mean())
                else:
                    assert np.isnan(split["paired"][b, layer, head])
    scores = rng.normal(size=(40, 5))
    assert L.score_gap(scores, relevant) == pytest.approx(scores[relevant].mean() - scores[~relevant].mean())
    assert L.score_gap(np.full((40, 5), 3.0), relevant) == pytest.approx(0.0)


def test_hmm_report_runs_on_real_hmm_prompts_and_its_parts_add_up(random_model):
    pr = hmm_prompts(8, 60, 2)
    rep = L.hmm_report(random_model, pr.tokens, pr.labels, K, 8, n_random=3, chunk=25)
    json.dumps(rep)
    assert rep["located"] and rep["top_head"] == rep["located"][0]
    top = rep["top_head"]
    assert sum(rep["top_head_ld_by_source"].values()) == pytest.approx(rep["head_ld"][top[0]][top[1]], abs=1e-9)
    parts = rep["logit_diff_parts"]
    assert sum(parts.values()) == pytest.approx(rep["logit_diff"], abs=1e-9)
    assert rep["located_ld"] >= 0.8 * sum(max(v, 0) for row in rep["head_ld"] for v in row) - 1e-9
    predicted = L.last_logits(random_model, pr.tokens).argmax(-1).numpy()
    assert rep["accuracy"] == pytest.approx(np.mean(predicted == pr.labels))


def test_bad_hmm_input_is_refused_in_one_line(random_model):
    pr = hmm_prompts(4, 5, 3)
    with pytest.raises(ValueError, match="k=3, n=5"):
        L.hmm_report(random_model, pr.tokens, pr.labels, K, 5)
    with pytest.raises(ValueError, match="labels"):
        L.hmm_report(random_model, pr.tokens, pr.labels[:3], K, 4)
    with pytest.raises(ValueError, match="relevant"):
        L.tower_split(np.zeros((5, 1, 1, 4)), np.zeros((5, 3), bool))
    with pytest.raises(ValueError, match="labels"):
        L.value_output_reading(random_model, pr.tokens, [2, 6], pr.tokens[:, :3])
