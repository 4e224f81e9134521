"""Sparse retrieval in context, with delimiters that may lie (after Abernethy, Agarwal, Marinov &
Warmuth, ALT 2024). This is the book's own formalisation of the paper's setting.

A task is a hidden coordinate ``j*``, uniform over the first ``candidates`` coordinates (by
default every coordinate of the shortest input: ``min_len``, or ``d``). An example
is an input of ``ℓ`` symbols from an alphabet of ``q``, the delimiter ``▷`` and the label
``y = x[j*]`` (1-sparse retrieval). A prompt is ``BOS``, a preamble of random length (so that
where the first example starts is not known from the positions alone), ``n`` examples and the
test input followed by ``▷``; the model must say the test label::

    BOS  p p  x11 x12 x13 ▷ y1  x21 x22 x23 ▷ y2  ...  xt1 xt2 xt3 ▷  → y_t

With ``sparsity = s > 1`` the hidden parameter is an s-subset S of the coordinates and the label
is the sum of the input's symbols on S, mod q (tokens read as numbers, so the label is a token
again): the tokenised s-sparse generalisation.

Three things make segmentation hard or easy:

- ``rho``: each input (and preamble) position holds the delimiter with probability ``rho``,
  so a ``▷`` does not prove that a label follows;
- ``min_len``: input lengths vary uniformly in ``[min_len, d]``;
- the structure that restores it: labels written in their own alphabet
  (``label_alphabet="disjoint"``) or a second delimiter ``◁`` after every label.

Token ids: symbols ``0..q-1``, then ``▷``, ``◁``, ``BOS``, ``PAD`` and, for the disjoint label
alphabet, ``q + 1`` label tokens (one per symbol and one for a label that is ``▷``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LABEL_ALPHABETS = ("shared", "disjoint")


@dataclass(frozen=True)
class RetrievalTask:
    d: int = 8                     # input length (the longest, when lengths vary)
    q: int = 4                     # alphabet size
    n_examples: int = 16           # examples in a prompt; accuracy is read at every n below it
    rho: float = 0.0               # P(an input position holds the delimiter)
    min_len: int | None = None     # input lengths uniform in [min_len, d]; None: always d
    preamble: int = 0              # preamble length uniform in [0, preamble]
    label_alphabet: str = "shared"  # "shared": y is a symbol token; "disjoint": its own tokens
    end_delimiter: bool = False    # a second delimiter ◁ after every label
    label_noise: float = 0.0       # P(the label is replaced by another symbol)
    candidates: int | None = None  # j* uniform over the first `candidates` coordinates; None: all
                                   # of the shortest input (fewer: a smaller class, for a curriculum)
    sparsity: int = 1              # s: y = (sum of x over a hidden s-subset S) mod q; s = 1 is y = x[j*]

    def __post_init__(self):
        for name in ("d", "q", "n_examples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RetrievalTask.{name} must be a positive integer, got {value!r}")
        if self.q < 2:
            raise ValueError(f"RetrievalTask.q must be at least 2, got {self.q}")
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"RetrievalTask.rho must lie in [0, 1), got {self.rho!r}")
        if self.min_len is not None and not (isinstance(self.min_len, int) and 1 <= self.min_len <= self.d):
            raise ValueError(f"RetrievalTask.min_len must be an integer in [1, d={self.d}], got {self.min_len!r}")
        if self.candidates is not None and not (isinstance(self.candidates, int)
                                                and 1 <= self.candidates <= self.shortest):
            raise ValueError(f"RetrievalTask.candidates must be an integer in [1, {self.shortest}] (the shortest "
                             f"input), got {self.candidates!r}")
        if not isinstance(self.preamble, int) or self.preamble < 0:
            raise ValueError(f"RetrievalTask.preamble must be an integer >= 0, got {self.preamble!r}")
        if self.label_alphabet not in LABEL_ALPHABETS:
            raise ValueError(f"RetrievalTask.label_alphabet must be one of {LABEL_ALPHABETS}, "
                             f"got {self.label_alphabet!r}")
        if not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"RetrievalTask.label_noise must lie in [0, 1), got {self.label_noise!r}")
        if not isinstance(self.sparsity, int) or not 1 <= self.sparsity <= self.n_candidates:
            raise ValueError(f"RetrievalTask.sparsity must be an integer in [1, {self.n_candidates}] (the "
                             f"candidate coordinates), got {self.sparsity!r}")
        if self.sparsity > 1 and (self.rho or self.label_noise):
            raise ValueError("RetrievalTask: sparsity > 1 reads tokens as numbers, so it needs rho = 0 and "
                             "label_noise = 0")
        if self.label_noise and self.rho:
            raise ValueError("RetrievalTask: label_noise needs rho = 0 (a label that is ▷ has no noisy version)")

    # ---- the vocabulary ----
    @property
    def delim(self) -> int:
        return self.q

    @property
    def end(self) -> int:
        return self.q + 1

    @property
    def bos(self) -> int:
        return self.q + 2

    @property
    def pad(self) -> int:
        return self.q + 3

    @property
    def vocab_size(self) -> int:
        return self.q + 4 + (self.q + 1 if self.label_alphabet == "disjoint" else 0)

    def label_token(self, symbol: np.ndarray) -> np.ndarray:
        """The token that writes ``symbol`` (a symbol or ``▷``) as a label."""
        symbol = np.asarray(symbol)
        if self.label_alphabet == "shared":
            return symbol
        return np.where(symbol == self.delim, self.q + 4 + self.q, self.q + 4 + symbol)

    # ---- lengths ----
    @property
    def shortest(self) -> int:
        return self.d if self.min_len is None else self.min_len

    @property
    def n_candidates(self) -> int:
        """How many coordinates j* may be (the hypothesis class's size)."""
        return self.shortest if self.candidates is None else self.candidates

    @property
    def example_len(self) -> int:
        """Tokens of the longest example: input, ▷, label (and ◁)."""
        return self.d + 2 + int(self.end_delimiter)

    @property
    def seq_len(self) -> int:
        """Tokens of the longest prompt: BOS, preamble, n examples, test input and ▷."""
        return 1 + self.preamble + self.n_examples * self.example_len + self.d + 1

    def to_dict(self) -> dict:
        return asdict(self)

    def sample(self, n_prompts: int, seed: int | np.random.Generator) -> "RetrievalPrompts":
        return sample_prompts(self, n_prompts, seed)


@dataclass
class RetrievalPrompts:
    """``n_prompts`` prompts of ``n_examples`` examples and one test input, padded to one length.

    ``query[b, i]`` is the position of the true ``▷`` of example ``i``; the model's prediction
    there has seen ``i`` complete examples and is scored against ``labels[b, i]``, so one prompt
    yields the accuracy at every ``n = 0 .. n_examples`` (the last is the test input's)."""
    tokens: np.ndarray    # [B, T] int64
    query: np.ndarray     # [B, n + 1] positions of the true delimiters
    labels: np.ndarray    # [B, n + 1] label token ids (the token after each true delimiter)
    j_star: np.ndarray    # [B] the hidden coordinate (with s > 1: the support's first coordinate)
    inputs: np.ndarray    # [B, n + 1, d] input tokens (beyond each length: PAD)
    lengths: np.ndarray   # [B, n + 1]
    preamble: np.ndarray  # [B]
    support: np.ndarray | None = None  # [B, s] the hidden subset S, sorted (j_star[:, None] when s = 1)


def sample_prompts(task: RetrievalTask, n_prompts: int, seed: int | np.random.Generator) -> RetrievalPrompts:
    """Draw prompts (vectorised): inputs, hidden coordinate, labels, and their layout."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    B, n, d, q = n_prompts, task.n_examples, task.d, task.q
    lengths = (np.full((B, n + 1), d) if task.min_len is None
               else rng.integers(task.min_len, d + 1, size=(B, n + 1)))
    inputs = _input_tokens(task, rng, (B, n + 1, d))
    inputs[np.arange(d) >= lengths[..., None]] = task.pad
    if task.sparsity == 1:
        support = rng.integers(0, task.n_candidates, size=B)[:, None]
    else:   # a uniform s-subset: the s smallest of n_candidates uniform keys
        support = np.sort(np.argsort(rng.random((B, task.n_candidates)), 1)[:, :task.sparsity], 1)
    j_star = support[:, 0]
    picked = np.take_along_axis(inputs, np.broadcast_to(support[:, None, :], (B, n + 1, task.sparsity)), 2)
    symbols = picked[..., 0] if task.sparsity == 1 else picked.sum(-1) % q
    if task.label_noise:
        flip = rng.random((B, n + 1)) < task.label_noise
        other = (symbols + rng.integers(1, q, size=(B, n + 1))) % q      # uniform over the q - 1 others
        symbols = np.where(flip, other, symbols)
    labels = task.label_token(symbols)
    pre_len = rng.integers(0, task.preamble + 1, size=B)

    # Layout: every example's tokens at offsets 0 .. example_len - 1 from its start.
    ex_len = lengths + 2 + int(task.end_delimiter)                        # [B, n + 1]
    starts = 1 + pre_len[:, None] + np.concatenate([np.zeros((B, 1), int), np.cumsum(ex_len, 1)[:, :-1]], 1)
    body = np.full((B, n + 1, task.example_len), task.pad, dtype=np.int64)
    body[..., :d] = inputs
    offsets = np.arange(task.example_len)
    body[offsets == lengths[..., None]] = task.delim
    body[offsets == lengths[..., None] + 1] = labels.reshape(-1)
    if task.end_delimiter:
        body[offsets == lengths[..., None] + 2] = task.end
    valid = offsets < ex_len[..., None]
    valid[:, n] = offsets <= lengths[:, n, None]                          # the test example stops at ▷

    tokens = np.full((B, task.seq_len), task.pad, dtype=np.int64)
    tokens[:, 0] = task.bos
    pre = _input_tokens(task, rng, (B, task.preamble))
    cols = np.arange(task.preamble)
    rows, pcols = np.nonzero(cols < pre_len[:, None])
    tokens[rows, 1 + pcols] = pre[rows, pcols]
    pos = starts[..., None] + offsets                                      # [B, n + 1, example_len]
    b_idx = np.broadcast_to(np.arange(B)[:, None, None], pos.shape)
    tokens[b_idx[valid], pos[valid]] = body[valid]
    return RetrievalPrompts(tokens=tokens, query=starts + lengths, labels=labels, j_star=j_star,
                            inputs=inputs, lengths=lengths, preamble=pre_len, support=support)


def _input_tokens(task: RetrievalTask, rng: np.random.Generator, shape) -> np.ndarray:
    tokens = rng.integers(0, task.q, size=shape)
    if task.rho:
        tokens[rng.random(shape) < task.rho] = task.delim
    return tokens.astype(np.int64)


# ---- closed forms (1-sparse retrieval, one true delimiter per example) -----------------------

def identification_probability(d: int, q: int, n: np.ndarray | int) -> np.ndarray:
    """P(a learner that picks a uniformly random consistent coordinate picks j*) after n
    noise-free examples: each of the d - 1 wrong coordinates survives with p = q^-n, B ~ Bin(d-1, p),
    and E[1 / (1 + B)] = (1 - (1 - p)^d) / (d p)."""
    p = np.power(float(q), -np.asarray(n, dtype=float))
    return (1 - (1 - p) ** d) / (d * p)


def random_pick_accuracy(d: int, q: int, n: np.ndarray | int) -> np.ndarray:
    """Accuracy of that learner's label: a wrong pick still answers right with probability 1/q."""
    ident = identification_probability(d, q, n)
    return ident + (1 - ident) / q


def subset_examples_sufficient(d: int, s: int, q: int, delta: float) -> float:
    """s-sparse, tokenised: a wrong subset S ≠ S* gives the right label with probability exactly
    1/q (the sum over the coordinates of S outside S* is uniform mod q), so the union bound over the
    C(d, s) - 1 wrong subsets gives n ≥ log((C(d, s) - 1)/δ) / log q, about s log(d/s) / log q."""
    return np.log((math.comb(d, s) - 1) / delta) / np.log(q)


def examples_sufficient(d: int, q: int, delta: float) -> float:
    """n ≥ log((d - 1)/δ) / log q guarantees P(C_n = {j*}) ≥ 1 - δ (a union bound)."""
    return np.log((d - 1) / delta) / np.log(q)


def segmentation_examples_sufficient(period: int, rho: float, delta: float) -> float:
    """n ≥ log((ℓ - 1)/δ) / log(1/ρ): every one of the ℓ - 1 wrong phases of a fixed-length
    prompt survives n examples with probability at most ρ^n."""
    return np.log((period - 1) / delta) / np.log(1 / rho)
