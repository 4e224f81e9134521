"""The book's transformer as a Hugging Face GPT-2: the same weights in ``GPT2LMHeadModel``.

With learned positions, tied embeddings and layer norm, our model is GPT-2's architecture; this
bridge copies its weights across, so that the two compute the same logits (a test holds them to
float32 rounding) and the throughput benchmark races them on one function. ``transformers`` is
an optional dependency, imported only here.
"""

from __future__ import annotations

import torch

from .transformer import Transformer


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


@torch.no_grad()
def copy_weights(ours: Transformer, hf) -> None:
    """Give ``hf`` (a ``GPT2LMHeadModel`` of the same shape) our weights."""
    t = hf.transformer
    t.wte.weight.copy_(ours.embed.weight)
    t.wpe.weight.copy_(ours.pos.weight)
    for b, h in zip(ours.blocks, t.h):
        for theirs, mine in ((h.ln_1, b.ln1), (h.ln_2, b.ln2)):
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
        # HF's Conv1D stores its weight as [in, out]; nn.Linear as [out, in].
        for conv, lin in ((h.attn.c_attn, b.attn.qkv), (h.attn.c_proj, b.attn.out),
                          (h.mlp.c_fc, b.mlp.fc), (h.mlp.c_proj, b.mlp.proj)):
            conv.weight.copy_(lin.weight.T)
            conv.bias.copy_(lin.bias)
    t.ln_f.weight.copy_(ours.ln_f.weight)
    t.ln_f.bias.copy_(ours.ln_f.bias)
