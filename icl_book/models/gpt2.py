"""The book's transformer as a Hugging Face GPT-2: the same weights in ``GPT2LMHeadModel``.

With learned positions, tied embeddings and layer norm, our model is GPT-2's architecture; this
bridge copies its weights across, so that the two compute the same logits (a test holds them to
float32 rounding) and the throughput benchmark races them on one function. ``transformers`` is
an optional dependency, imported only here.
"""

from __future__ import annotations

import torch

from .transformer import Transformer, TransformerConfig


def gpt2_from(ours: Transformer, activation: str = "gelu_new", attn_implementation: str = "sdpa"):
    """A ``GPT2LMHeadModel`` with ``ours``'s weights (``gelu_new`` and ``gelu_pytorch_tanh`` are both
    the tanh GELU ours uses). Refuses a configuration GPT-2 cannot express."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = ours.cfg
    if cfg.vocab_size is None or cfg.positions != "learned" or not cfg.tie_embeddings or not cfg.layer_norm:
        raise ValueError("gpt2_from needs token inputs, learned positions, tied embeddings and layer norm "
                         f"(GPT-2's architecture); got {cfg}")
    hf_cfg = GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.n_ctx, n_embd=cfg.d_model, n_layer=cfg.n_layer,
        n_head=cfg.n_head, n_inner=cfg.d_mlp,  # None: 4 * width, as ours
        activation_function=activation, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=1e-5, tie_word_embeddings=True, use_cache=False,
        bos_token_id=None, eos_token_id=None,  # GPT-2's 50256 lies outside a small vocabulary
        attn_implementation=attn_implementation)
    hf = GPT2LMHeadModel(hf_cfg)
    if hf.lm_head.weight is not hf.transformer.wte.weight:
        raise RuntimeError("Hugging Face GPT-2 did not tie its embeddings")
    copy_weights(ours, hf)
    return hf


def _matching(ours: Transformer, hf):
    """Pairs ``(ours, theirs, transposed)`` of every tensor the two models share, in one table for
    both directions. HF's Conv1D stores its weight as [in, out]; nn.Linear as [out, in]."""
    t = hf.transformer
    yield ours.embed.weight, t.wte.weight, False
    yield ours.pos.weight, t.wpe.weight, False
    for b, h in zip(ours.blocks, t.h):
        for mine, theirs in ((b.ln1, h.ln_1), (b.ln2, h.ln_2)):
            yield mine.weight, theirs.weight, False
            yield mine.bias, theirs.bias, False
        for lin, conv in ((b.attn.qkv, h.attn.c_attn), (b.attn.out, h.attn.c_proj),
                          (b.mlp.fc, h.mlp.c_fc), (b.mlp.proj, h.mlp.c_proj)):
            yield lin.weight, conv.weight, True
            yield lin.bias, conv.bias, False
    yield ours.ln_f.weight, t.ln_f.weight, False
    yield ours.ln_f.bias, t.ln_f.bias, False


@torch.no_grad()
def copy_weights(ours: Transformer, hf) -> None:
    """Give ``hf`` (a ``GPT2LMHeadModel`` of the same shape) our weights."""
    for mine, theirs, transposed in _matching(ours, hf):
        theirs.copy_(mine.T if transposed else mine)


@torch.no_grad()
def transformer_from_gpt2(hf) -> Transformer:
    """The book's ``Transformer`` with the weights of a Hugging Face ``GPT2LMHeadModel``, so every
    analysis of the book runs on a real GPT-2 unchanged: GPT-2 is this architecture (learned
    positions, pre-LN blocks, the tanh GELU, tied embeddings)."""
    c = hf.config
    if getattr(c, "model_type", None) != "gpt2":
        raise ValueError(f"transformer_from_gpt2 reads GPT-2 models, got model_type {getattr(c, 'model_type', None)!r}")
    if c.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"the book's MLP is the tanh GELU; this GPT-2 uses {c.activation_function!r}")
    ours = Transformer(TransformerConfig(n_layer=c.n_layer, n_head=c.n_head, d_model=c.n_embd, n_ctx=c.n_positions,
                                         vocab_size=c.vocab_size, d_mlp=c.n_inner, tie_embeddings=True))
    for mine, theirs, transposed in _matching(ours, hf):
        mine.copy_(theirs.T if transposed else theirs)
    for norm in (*(b.ln1 for b in ours.blocks), *(b.ln2 for b in ours.blocks), ours.ln_f):
        norm.eps = c.layer_norm_epsilon
    return ours.eval()
