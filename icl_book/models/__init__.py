"""Models: the one transformer (with hook points) and the LSTM baseline."""

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


__all__ = ["Transformer", "TransformerConfig", "LSTMLanguageModel", "LSTMConfig", "build_model",
           "MODEL_CONFIGS"]
