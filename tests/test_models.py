"""The transformer's contracts: causality, hook shapes and sums, fast path = explicit path."""

import pytest
import torch

from icl_book.models import LSTMConfig, LSTMLanguageModel, Transformer, TransformerConfig, build_model
from icl_book.models.transformer import rotate


def token_model(**kw):
    torch.manual_seed(0)
    cfg = dict(n_layer=2, n_head=4, d_model=32, n_ctx=16, vocab_size=11)
    cfg.update(kw)
    return Transformer(TransformerConfig(**cfg)).eval()


def vector_model():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(n_layer=2, n_head=2, d_model=16, n_ctx=12, d_in=4, d_out=1)).eval()


@pytest.mark.parametrize("cache", [False, True])
def test_changing_a_later_token_never_changes_an_earlier_logit(cache):
    model = token_model()
    x = torch.randint(11, (3, 16))
    y = x.clone()
    y[:, 9:] = (y[:, 9:] + 1) % 11
    out_x = model(x, cache=cache)[0] if cache else model(x)
    out_y = model(y, cache=cache)[0] if cache else model(y)
    torch.testing.assert_close(out_x[:, :9], out_y[:, :9], rtol=0, atol=1e-6)
    assert not torch.allclose(out_x[:, 9:], out_y[:, 9:])


def test_vector_inputs_are_causal_too():
    model = vector_model()
    x = torch.randn(2, 12, 4)
    y = x.clone()
    y[:, 5] += 1.0
    torch.testing.assert_close(model(x)[:, :5], model(y)[:, :5], rtol=0, atol=1e-6)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_fast_path_equals_explicit_attention_path(positions):
    model = token_model(positions=positions)
    x = torch.randint(11, (2, 16))
    fast = model(x)
    explicit, _ = model(x, cache=True)
    torch.testing.assert_close(fast, explicit, rtol=1e-5, atol=1e-5)


def test_cache_holds_every_hook_with_its_shape():
    model = token_model()
    B, T, H, D = 2, 10, 4, 32
    _, cache = model(torch.randint(11, (B, T)), cache=True)
    assert list(cache) == model.hook_names()
    for i in range(2):
        b = f"blocks.{i}"
        for name in ("q", "k", "v", "z"):
            assert cache[f"{b}.attn.{name}"].shape == (B, H, T, D // H)
        assert cache[f"{b}.attn.pattern"].shape == (B, H, T, T)
        assert cache[f"{b}.attn.head_out"].shape == (B, H, T, D)
        for name in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"):
            assert cache[f"{b}.{name}"].shape == (B, T, D)
    assert cache["embed"].shape == cache["final"].shape == (B, T, D)


def test_patterns_are_causal_distributions():
    model = token_model()
    _, cache = model(torch.randint(11, (2, 10)), cache=True)
    p = cache["blocks.1.attn.pattern"]
    torch.testing.assert_close(p.sum(-1), torch.ones(2, 4, 10))
    assert (p.triu(diagonal=1) == 0).all()


def test_per_head_outputs_sum_to_the_attention_output():
    model = token_model()
    _, cache = model(torch.randint(11, (2, 10)), cache=True)
    for i in range(2):
        bias = model.blocks[i].attn.out.bias
        total = cache[f"blocks.{i}.attn.head_out"].sum(dim=1) + bias
        torch.testing.assert_close(total, cache[f"blocks.{i}.attn_out"], rtol=1e-5, atol=1e-6)


def test_residual_stream_adds_up():
    model = token_model()
    _, c = model(torch.randint(11, (2, 10)), cache=True)
    torch.testing.assert_close(c["blocks.0.resid_mid"], c["blocks.0.resid_pre"] + c["blocks.0.attn_out"])
    torch.testing.assert_close(c["blocks.0.resid_post"], c["blocks.0.resid_mid"] + c["blocks.0.mlp_out"])
    torch.testing.assert_close(c["blocks.1.resid_pre"], c["blocks.0.resid_post"])


def test_a_hook_can_ablate_a_head_and_changes_the_output():
    model = token_model()
    x = torch.randint(11, (2, 10))
    clean = model(x)

    def zero_head_0(z):
        z = z.clone()
        z[:, 0] = 0
        return z

    ablated, cache = model(x, cache=True, hooks={"blocks.0.attn.z": zero_head_0})
    assert (cache["blocks.0.attn.z"][:, 0] == 0).all()
    assert (cache["blocks.0.attn.head_out"][:, 0] == 0).all()
    assert not torch.allclose(clean, ablated)
    # An observing hook that returns None changes nothing.
    seen = []
    torch.testing.assert_close(model(x, hooks={"blocks.1.mlp_out": seen.append}), clean, rtol=1e-5, atol=1e-5)
    assert seen and seen[0].shape == (2, 10, 32)


def test_unknown_hook_name_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown hook names"):
        token_model()(torch.randint(11, (1, 4)), hooks={"blocks.9.attn.z": lambda z: z})


def test_too_long_a_sequence_is_refused():
    with pytest.raises(ValueError, match="n_ctx=16"):
        token_model()(torch.randint(11, (1, 17)))


def test_rotary_scores_depend_on_the_offset_only():
    """RoPE's contract: a query-key score is a function of their content and offset alone, so
    the same two vectors score the same at positions (t, s) and (t + m, s + m)."""
    model = token_model(positions="rotary", n_layer=1)
    assert model.pos is None
    attn = model.blocks[0].attn
    torch.manual_seed(1)
    q0, k0 = torch.randn(2, 8)
    q = torch.zeros(1, 1, 16, 8)
    k = torch.zeros(1, 1, 16, 8)
    q[..., 5, :], k[..., 2, :] = q0, k0           # offset 3 at (5, 2)
    q[..., 12, :], k[..., 9, :] = q0, k0          # offset 3 at (12, 9)
    q, k = (t for t in (rotate(q, attn.cos, attn.sin), rotate(k, attn.cos, attn.sin)))
    near, far = q[0, 0, 5] @ k[0, 0, 2], q[0, 0, 12] @ k[0, 0, 9]
    torch.testing.assert_close(near, far, rtol=1e-5, atol=1e-5)
    assert not torch.isclose(near, q[0, 0, 12] @ k[0, 0, 2])   # a different offset scores differently
    assert torch.isclose((q[0, 0, 5] ** 2).sum(), (q0 ** 2).sum())  # a rotation keeps the norm


def test_tied_embeddings_share_storage():
    model = token_model()
    assert model.unembed.weight.data_ptr() == model.embed.weight.data_ptr()


@pytest.mark.parametrize("bad, message", [
    (dict(d_model=30, n_head=4), "divisible"),
    (dict(vocab_size=None), "exactly one input kind"),
    (dict(n_layer=0), "n_layer"),
    (dict(dropout=1.5), "dropout"),
    (dict(positions="alibi"), "positions"),
    (dict(d_model=12, n_head=4, positions="rotary"), "even head width"),
])
def test_transformer_config_validation(bad, message):
    cfg = dict(n_layer=2, n_head=4, d_model=32, n_ctx=16, vocab_size=11)
    cfg.update(bad)
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**cfg)


def test_lstm_is_causal_and_shaped_like_the_transformer():
    torch.manual_seed(0)
    model = LSTMLanguageModel(LSTMConfig(vocab_size=11, d_model=16, n_layer=2)).eval()
    x = torch.randint(11, (2, 12))
    y = x.clone()
    y[:, 7] = (y[:, 7] + 3) % 11
    out = model(x)
    assert out.shape == (2, 12, 11)
    torch.testing.assert_close(out[:, :7], model(y)[:, :7])


def test_build_model_round_trips_a_config_dict():
    cfg = TransformerConfig(n_layer=1, n_head=2, d_model=8, n_ctx=4, vocab_size=5)
    assert build_model("transformer", cfg.to_dict()).cfg == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k != "positions"}   # artifacts made before RoPE
    assert build_model("transformer", old).cfg.positions == "learned"
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("mamba", {})
