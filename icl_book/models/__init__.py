"""Models: the one transformer (with hook points), the LSTM baseline, and the one-layer linear
attention of the spin-glass chapter."""

from .batched import batched
from .linear_attention import (LinearAttentionConfig, MergedLinearAttention, PromptSet, SeparateLinearAttention,
                               build_linear_attention, features, prompt_matrix, sample_prompts)
from .lstm import LSTMConfig, LSTMLanguageModel
from .transformer import Transformer, TransformerConfig

MODEL_CONFIGS = {"transformer": TransformerConfig, "lstm": LSTMConfig}


def build_model(kind: str, config: dict):
    """Build a model from its kind and a plain config dict (as stored in an artifact)."""
    if kind == "transformer":
        return Transformer(TransformerConfig(**config))
    if kind == "lstm":
        return LSTMLanguageModel(LSTMConfig(**config))
    raise ValueError(f"unknown model kind {kind!r}; choose one of {sorted(MODEL_CONFIGS)}")


__all__ = ["batched", "Transformer", "TransformerConfig", "LSTMLanguageModel", "LSTMConfig", "build_model",
           "MODEL_CONFIGS", "LinearAttentionConfig", "MergedLinearAttention", "SeparateLinearAttention",
           "build_linear_attention", "PromptSet", "sample_prompts", "prompt_matrix", "features"]
