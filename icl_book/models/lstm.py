"""An LSTM language model, the recurrent baseline of the GINC chapter.

It is called like the transformer: ``model(tokens)`` returns logits ``[B, T, vocab]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LSTMConfig:
    vocab_size: int = 51     # tokens in and logits out
    d_model: int = 64        # embedding and hidden width
    n_layer: int = 2         # stacked LSTM layers
    dropout: float = 0.0     # between layers and before the decoder
    tie_embeddings: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layer"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"LSTMConfig.{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LSTMConfig.dropout must lie in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class LSTMLanguageModel(nn.Module):
    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.lstm = nn.LSTM(cfg.d_model, cfg.d_model, cfg.n_layer, batch_first=True,
                            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        if cfg.tie_embeddings:
            self.unembed.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.drop(self.embed(tokens)))  # [B, T, d_model]
        return self.unembed(self.drop(h))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
