"""Gradient training of linear attention, as the spin-glass paper trains it: the book's one
second training loop, and why it is one.

``icl_book.train`` trains a model on a stream of fresh batches, one seeded batch a step, with
checkpoints. The paper's experiment is a different computation: full-batch Adam on one fixed
set of ``P`` prompts, in float64, for a few hundred epochs, and many independent repeats of it.
Its loss is a quadratic form in the flattened weights, so a step needs only the Gram statistics
``(G, b, c)`` of the prompt set, one ``(D + 1)^2``-sized product whatever ``P`` is, and the
repeats stack along a leading axis under one Adam. Through the shared loop each step would
rebuild a batch of ``P`` prompts and pay for the product with every feature; the 500 runs of
the interpolation figure would take hours instead of seconds. No checkpoints: a run is seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models.linear_attention import (GramStats, LinearAttentionConfig, PromptSet, build_linear_attention,
                                      f64 as _f64, weight_side as _side)

@dataclass(frozen=True)
class GradientTrainingConfig:
    lr: float = 0.01             # Adam learning rate (the paper's)
    epochs: int = 300            # full-batch steps
    weight_decay: float = 0.0    # Adam's L2 term (the paper's wd); the minimiser is ridge with lam0 = wd / 2
    init_std: float | None = None  # None: the paper's 1/sqrt(D + 1)

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"GradientTrainingConfig.lr must be > 0, got {self.lr!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"GradientTrainingConfig.epochs must be a positive integer, got {self.epochs!r}")
        if self.weight_decay < 0:
            raise ValueError(f"GradientTrainingConfig.weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class TrainingResult:
    W: torch.Tensor                   # [D + 1, D + 1] the trained merged matrix (W_q^T W_k if separate)
    W_init: torch.Tensor              # [D + 1, D + 1] the same at initialisation
    train_loss: torch.Tensor          # [epochs] MSE on the training prompts, before each step
    test_loss: torch.Tensor | None    # [epochs] MSE on the test prompts, after each step


def train_linear_attention(train: PromptSet, test: PromptSet | None = None,
                           config: GradientTrainingConfig = GradientTrainingConfig(), *,
                           merged: bool = True, generator: torch.Generator | None = None) -> TrainingResult:
    """Train linear attention on the query labels of ``train`` by full-batch Adam on the mean
    squared error, as the paper does, in float64. The loss is ``2 E(W)`` without the ridge,
    so with ``weight_decay = 0`` and enough prompts it runs to least squares on the features;
    the gradient on the zero-mode column is exactly zero, so Adam leaves it where it started."""
    cfg = LinearAttentionConfig(d=train.d, merged=merged, init_std=config.init_std)
    model = build_linear_attention(cfg, generator)
    # The features are fixed, so they are built once; s @ W.flatten() is model.predict(Z).
    s_train, y_train = _f64(train.features()), _f64(train.y_query)
    s_test = _f64(test.features()) if test is not None else None
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    W_init = model.weight().detach().clone()
    train_loss, test_loss = torch.empty(config.epochs), torch.empty(config.epochs)
    for epoch in range(config.epochs):
        loss = ((s_train @ model.weight().reshape(-1) - y_train) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_loss[epoch] = loss.detach()
        if s_test is not None:
            with torch.no_grad():
                test_loss[epoch] = ((s_test @ model.weight().reshape(-1) - _f64(test.y_query)) ** 2).mean()
    return TrainingResult(W=model.weight().detach().clone(), W_init=W_init, train_loss=train_loss,
                          test_loss=test_loss if s_test is not None else None)


# ---- many repeats at once, from the Gram matrix ----------------------------------------------
#
# The loss of the merged model is a quadratic form in the flattened weights w,
#     (1/P) sum_mu (y_q - w . s)^2 = w^T G w - 2 b . w + c,
#     G = S^T S / P,  b = S^T y / P,  c = y . y / P,
# so full-batch training needs only (G, b, c): one (D + 1)^2-sized matrix-vector product per
# step, whatever P is. Repeats are stacked along a leading axis and trained by one Adam; Adam
# acts entry by entry, so each repeat follows exactly the path it would follow alone.

@dataclass(frozen=True)
class RepeatsResult:
    W: torch.Tensor            # [R, D + 1, D + 1] trained merged matrices (W_q^T W_k if separate)
    W_init: torch.Tensor       # [R, D + 1, D + 1] the same at initialisation
    train_loss: torch.Tensor   # [epochs, R] before each step
    test_loss: torch.Tensor    # [R] after the last step, on the test statistics


def train_repeats(train: GramStats, test: GramStats, config: GradientTrainingConfig = GradientTrainingConfig(), *,
                  merged: bool = True, generator: torch.Generator | None = None) -> RepeatsResult:
    """``train.repeats`` independent runs of ``train_linear_attention``, one per training set,
    all scored on the test statistics (one set, or one per repeat). The initial weights of
    repeat ``r`` are the ``r``-th model drawn from ``generator``, so with the same generator
    repeat ``r`` starts where the ``r``-th of a loop of ``train_linear_attention`` calls would."""
    R = train.repeats
    D1 = _side(train.G.shape[1])
    cfg = LinearAttentionConfig(d=D1 - 1, merged=merged, init_std=config.init_std)
    inits = [build_linear_attention(cfg, generator) for _ in range(R)]
    names = [name for name, _ in inits[0].named_parameters()]
    params = [torch.nn.Parameter(torch.stack([dict(m.named_parameters())[k].detach() for m in inits])) for k in names]

    def weight():
        return params[0] if merged else params[0].transpose(1, 2) @ params[1]     # W_q^T W_k  [R, D1, D1]

    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    W_init = weight().detach().clone()
    train_loss = torch.empty(config.epochs, R, dtype=torch.float64)
    # The gradient by hand: dL/dw = 2 (G w - b), and for the separate model the chain rule
    # through W = W_q^T W_k; G w serves the loss and the gradient (autograd would need two
    # products with G, and the product is the whole cost of a step).
    with torch.no_grad():
        for epoch in range(config.epochs):
            W = weight()
            w = W.reshape(R, -1)
            Gw = torch.bmm(train.G, w.unsqueeze(2)).squeeze(2)
            train_loss[epoch] = (w * Gw).sum(1) - 2 * (train.b * w).sum(1) + train.c
            grad_W = (2 * (Gw - train.b)).reshape(R, D1, D1)
            if merged:
                params[0].grad = grad_W
            else:
                params[0].grad = params[1] @ grad_W.transpose(1, 2)     # dL/dW_q = W_k (dL/dW)^T
                params[1].grad = params[0] @ grad_W                     # dL/dW_k = W_q dL/dW
            opt.step()
    with torch.no_grad():
        W = weight().detach().clone()
        w = W.reshape(R, -1)
        test_loss = (test.loss(w) if test.repeats == R else
                     GramStats(test.G.expand(R, -1, -1), test.b.expand(R, -1), test.c.expand(R), test.n_prompts).loss(w))
    return RepeatsResult(W=W, W_init=W_init, train_loss=train_loss, test_loss=test_loss)
