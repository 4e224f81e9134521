"""GINC, the mixture-of-HMMs data of Xie, Raghunathan, Liang & Ma (ICLR 2022), the task of the
GINC chapter.

**The HMMs.** A hidden state is a pair ``h = (v, s)`` of an entity ``v`` and a property ``s``
(10 x 10 = 100 states), numbered ``h = v * n_properties + s``. It emits one symbol,
deterministically: ``o = M[v, s]``, with ``M`` random in ``1..V-1`` and ``M[:, 0] = 0``, so
property 0 is the *delimiter property* and symbol 0 is the delimiter ``/``. Entities and
properties move as two independent Markov chains, so the transition matrix of concept ``θ`` is
``kron(A, B_θ)``:

- ``A = (1 - entity_stay) T + entity_stay I`` is shared by all concepts (entities mostly stay);
- ``B_θ = Σ_r π_r P_r`` mixes ``R = n_perms`` random permutation matrices with weights
  ``π = softmax((u - 0.5) / τ)``, ``u ~ U[0, 1)^R``, ``τ = transition_temp``. This is the concept.

Every concept has its own start distribution ``softmax((u - 0.5) / start_temp)`` over the 100
states (near uniform at temperature 10). Of the ``n_concepts`` HMMs the first
``n_pretrain_concepts`` make the pretraining mixture (uniform prior); the rest are unseen.

**Token ids.** The model reads token ids, not symbols: id 0 is an end/pad token that never
occurs in the data, and symbol ``o`` is id ``o + 1``. So the delimiter is id 1
(``DELIMITER_ID``), the letters are ids ``2..V``, and the model vocabulary is ``V + 1``, as with
the released tokenizer (``[endoftext]``, ``/``, ``a``, ``b``, ...). ``symbol_names`` gives the
letter strings.

**Prompts.** A prompt for example length ``k`` and ``n`` examples is
``x_1 y_1 / x_2 y_2 / ... / x_n y_n / x_test``: the concept ``θ*`` is drawn from the pool and a
start property ``s0 ∈ 1..9`` is fixed for the whole prompt; each example starts from
``(v ~ U{0..9}, s0)`` and runs ``k`` hidden steps under ``θ*`` (so ``x`` is ``k - 1`` tokens and
``y`` one token, all sampled), and a delimiter follows. The last example is cut to its first
``k - 1`` tokens, ``x_test``; its label is ``argmax_o p(o_k | x_test, θ*)`` with the start
``(U{entities}, s0)``, from the forward algorithm, so the Bayes error is zero. The prompt
length is ``n (k + 1) + k - 1``. By hand, with ``V = 50``, ``k = 3``, ``n = 1``, an example whose
hidden chain emits the symbols ``12 7 33`` and a last example whose first two symbols are
``5 20``::

    symbols      12  7  33  /   5  20        (then the label, say symbol 41)
    token ids    13  8  34  1   6  21        label id 42
    letters       l  g  ah  /   e   t        label ap

Hidden chains may pass through property 0 mid-example, so ``/`` can also occur inside an
example (in the released code too); the delimiters *between* examples sit at positions
``j (k + 1) + k`` for ``j < n``.

All randomness comes from ``numpy.random.default_rng`` seeded with ``(seed, stream tag, ...)``,
so the HMMs, the corpus and each prompt set are pure functions of their seeds and independent
of one another.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..hmm import forward_filter

PAD_ID = 0        # end/pad token: never in the data, there so the vocabulary is V + 1
DELIMITER_ID = 1  # symbol 0, "/"

# Stream tags of the seed sequences, so each kind of draw has its own stream.
_EMISSION, _ENTITY, _CONCEPT, _DOCS, _PROMPTS = 0, 1, 2, 3, 4
_PROMPT_KINDS = {"pretrain": 0, "unseen": 1, "released_code_unseen": 2}


@dataclass(frozen=True)
class GINCConfig:
    vocab_size: int = 50                # V symbols: the delimiter and V - 1 letters (paper: 50, 100, 150)
    n_entities: int = 10                # entity values v
    n_properties: int = 10              # property values s; property 0 emits the delimiter
    n_concepts: int = 10                # HMMs generated in all
    n_pretrain_concepts: int = 5        # the first ones form the pretraining mixture; the rest are unseen
    n_perms: int = 100                  # R permutations per property matrix B_θ (paper 100, released code 10)
    entity_perms: int | None = None     # permutations in the entity matrix T; None: n_perms (code: 10)
    entity_stay: float = 0.9            # A = (1 - entity_stay) T + entity_stay I
    transition_temp: float = 0.1        # τ of the permutation weights softmax((u - 0.5) / τ)
    start_temp: float = 10.0            # temperature of the start distribution
    single_concept: bool = False        # ablation: pretrain on concept 0 only
    random_tokens: bool = False         # ablation: pretraining tokens uniform over the V symbols
    seed: int = 0                       # seeds M, A and every B_θ and start distribution

    def __post_init__(self):
        def positive_int(name, minimum=1):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"GINCConfig.{name} must be an integer >= {minimum}, got {value!r}")

        positive_int("vocab_size", 12)
        positive_int("n_entities")
        positive_int("n_properties", 2)   # the delimiter property and at least one more
        positive_int("n_concepts")
        positive_int("n_perms")
        positive_int("seed", 0)
        if self.entity_perms is not None:
            positive_int("entity_perms")
        if not isinstance(self.n_pretrain_concepts, int) or not 1 <= self.n_pretrain_concepts <= self.n_concepts:
            raise ValueError(f"GINCConfig.n_pretrain_concepts must be in 1..n_concepts={self.n_concepts}, "
                             f"got {self.n_pretrain_concepts!r}")
        if not 0.0 <= self.entity_stay <= 1.0:
            raise ValueError(f"GINCConfig.entity_stay must be in [0, 1], got {self.entity_stay!r}")
        for name in ("transition_temp", "start_temp"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GINCConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.single_concept and self.random_tokens:
            raise ValueError("GINCConfig: single_concept and random_tokens are separate ablations; pick one")

    @classmethod
    def released_code(cls, **overrides) -> "GINCConfig":
        """The released code's HMMs: 10 permutations in ``B_θ`` and in ``T``. About a third of
        each factor's entries are exactly zero, which breaks the paper's Assumption 5."""
        return replace(cls(n_perms=10, entity_perms=10), **overrides)

    @classmethod
    def low_temperature(cls, **overrides) -> "GINCConfig":
        """The zero-shot-beats-few-shot setting: τ = 0.01, 12 concepts, V = 100. The paper does
        not give the split; we keep the released code's half and half (6 pretraining)."""
        return replace(cls(vocab_size=100, n_concepts=12, n_pretrain_concepts=6, transition_temp=0.01),
                       **overrides)

    @property
    def n_states(self) -> int:
        return self.n_entities * self.n_properties

    @property
    def model_vocab_size(self) -> int:
        """V + 1: the symbols plus the pad/end token."""
        return self.vocab_size + 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class GINC:
    """The HMM family built from a ``GINCConfig`` (``E`` entities, ``Q`` properties, ``S = E Q``
    states, ``C`` concepts). Arrays are float64 unless said otherwise."""

    cfg: GINCConfig
    emission: np.ndarray              # [E, Q] int: symbol of state (v, s); column 0 is the delimiter 0
    entity_transition: np.ndarray     # [E, E] A, shared
    property_transitions: np.ndarray  # [C, Q, Q] B_θ, one per concept
    transitions: np.ndarray           # [C, S, S] kron(A, B_θ)
    start: np.ndarray                 # [C, S] start distribution of each concept

    @property
    def state_tokens(self) -> np.ndarray:
        """[S] the token id each hidden state emits (symbol + 1)."""
        return self.emission.reshape(-1) + 1

    @property
    def pretrain_concepts(self) -> np.ndarray:
        return np.arange(self.cfg.n_pretrain_concepts)

    @property
    def unseen_concepts(self) -> np.ndarray:
        return np.arange(self.cfg.n_pretrain_concepts, self.cfg.n_concepts)

    @property
    def pretrain_mixture(self) -> np.ndarray:
        """The concepts pretraining documents come from: concept 0 alone under ``single_concept``."""
        return self.pretrain_concepts[:1] if self.cfg.single_concept else self.pretrain_concepts


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _permutation_mixture(rng: np.random.Generator, size: int, n_perms: int, temp: float) -> np.ndarray:
    """``Σ_r softmax((u - 0.5) / temp)_r P_r`` for ``n_perms`` random ``size x size`` permutations."""
    weights = _softmax((rng.random(n_perms) - 0.5) / temp)
    perms = np.stack([rng.permutation(size) for _ in range(n_perms)])     # P_r[i, perms[r, i]] = 1
    mat = np.zeros((size, size))
    rows = np.broadcast_to(np.arange(size), perms.shape)
    np.add.at(mat, (rows, perms), np.broadcast_to(weights[:, None], perms.shape))
    return mat


def build_hmms(cfg: GINCConfig) -> GINC:
    """Draw the emission map, the shared entity matrix and every concept from ``cfg.seed``.

    Each concept has its own random stream, so concept ``c`` is the same whatever
    ``n_concepts`` is; the released code draws one start distribution per HMM, as we do."""
    E, Q, S = cfg.n_entities, cfg.n_properties, cfg.n_states
    emission = np.random.default_rng([cfg.seed, _EMISSION]).integers(1, cfg.vocab_size, size=(E, Q))
    emission[:, 0] = 0
    T = _permutation_mixture(np.random.default_rng([cfg.seed, _ENTITY]), E,
                             cfg.entity_perms or cfg.n_perms, cfg.transition_temp)
    A = (1 - cfg.entity_stay) * T + cfg.entity_stay * np.eye(E)
    B, start = np.empty((cfg.n_concepts, Q, Q)), np.empty((cfg.n_concepts, S))
    for c in range(cfg.n_concepts):
        rng = np.random.default_rng([cfg.seed, _CONCEPT, c])
        start[c] = _softmax((rng.random(S) - 0.5) / cfg.start_temp)
        B[c] = _permutation_mixture(rng, Q, cfg.n_perms, cfg.transition_temp)
    transitions = np.stack([np.kron(A, b) for b in B])   # h = v Q + s, so A is the outer factor
    for arr in (emission, A, B, transitions, start):
        arr.setflags(write=False)
    return GINC(cfg, emission, A, B, transitions, start)


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Row-wise CDFs whose last entry is exactly 1, so a zero-probability state (a flat step of
    the CDF) is never drawn by ``_draw``."""
    c = np.cumsum(p, axis=-1)
    return c / c[..., -1:]


def _draw(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: the first index whose CDF exceeds ``u`` (rows ``[..., n]``, ``u [...]``)."""
    return (cdf_rows <= u[..., None]).sum(-1)


@dataclass(frozen=True, eq=False)
class GINCDocuments:
    tokens: np.ndarray          # [D, T] int64 token ids
    concepts: np.ndarray        # [D] concept of each document (-1 for random tokens)
    states: np.ndarray | None   # [D, T] uint8 hidden states (None for random tokens)


def pretraining_tokens(ginc: GINC, n_docs: int, doc_len: int, seed: int) -> GINCDocuments:
    """``n_docs`` pretraining documents of ``doc_len`` tokens (paper: 1000 x 10,240; validation
    100 x 1024). Each document draws its concept uniformly from ``ginc.pretrain_mixture``, a
    start state, then runs the chain; all documents advance together, one time step at a time,
    sampling the entity and the property chains separately (``kron(A, B_θ)`` factorises).
    Under ``random_tokens`` every token is uniform over the V symbols (ids ``1..V``)."""
    if not isinstance(n_docs, int) or n_docs < 1 or not isinstance(doc_len, int) or doc_len < 1:
        raise ValueError(f"pretraining_tokens needs n_docs >= 1 and doc_len >= 1, got {n_docs!r}, {doc_len!r}")
    cfg = ginc.cfg
    rng = np.random.default_rng([seed, _DOCS])
    if cfg.random_tokens:
        tokens = rng.integers(1, cfg.vocab_size + 1, size=(n_docs, doc_len))
        return GINCDocuments(tokens, np.full(n_docs, -1), None)

    Q = cfg.n_properties
    concepts = rng.choice(ginc.pretrain_mixture, size=n_docs)
    cdf_A = _cumulative(ginc.entity_transition)                  # [E, E]
    cdf_B = _cumulative(ginc.property_transitions)[concepts]     # [D, Q, Q]
    h = _draw(_cumulative(ginc.start)[concepts], rng.random(n_docs))
    v, s = h // Q, h % Q
    states = np.empty((n_docs, doc_len), dtype=np.uint8)
    states[:, 0] = h
    docs = np.arange(n_docs)
    for t in range(1, doc_len):
        u = rng.random((2, n_docs))
        v = _draw(cdf_A[v], u[0])
        s = _draw(cdf_B[docs, s], u[1])
        states[:, t] = v * Q + s
    return GINCDocuments(ginc.state_tokens[states].astype(np.int64), concepts, states)


def _example_states(ginc: GINC, theta: np.ndarray, v0: np.ndarray, s0: np.ndarray, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Hidden states ``[P, m, k]`` of ``m`` examples per prompt: each a ``k``-step chain of concept
    ``theta[p]`` from ``(v0[p, i], s0[p])``; the entity and property chains are drawn separately."""
    P, m = v0.shape
    Q = ginc.cfg.n_properties
    v = np.broadcast_to(v0[..., None], (P, m, k)).copy()
    s = np.empty((P, m, k), dtype=np.int64)
    s[..., 0] = s0[:, None]
    cdf_A = _cumulative(ginc.entity_transition)
    cdf_B = _cumulative(ginc.property_transitions)[theta][:, None]   # [P, 1, Q, Q]
    rows = np.arange(P)[:, None]
    for j in range(1, k):
        u = rng.random((2, P, m))
        v[..., j] = _draw(cdf_A[v[..., j - 1]], u[0])
        s[..., j] = _draw(cdf_B[rows, 0, s[..., j - 1]], u[1])
    return v * Q + s


def _prompt_start(ginc: GINC, s0: np.ndarray) -> np.ndarray:
    """``[P, S]`` the prompt distribution's start of an example, ``(U{entities}, s0[p])``."""
    E, Q = ginc.cfg.n_entities, ginc.cfg.n_properties
    start = np.zeros((len(s0), E, Q))
    start[np.arange(len(s0)), :, s0] = 1.0 / E
    return start.reshape(len(s0), E * Q)


def sample_examples(ginc: GINC, concept: int, k: int, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` single examples of ``k`` tokens from the prompt distribution of ``concept``
    (a ``k``-step chain from ``(U{entities}, s0)``, ``s0`` uniform in ``1..Q-1``): their tokens
    ``[n, k]`` and each one's start distribution ``[n, S]``. A stream of its own per (seed, k, concept)."""
    E, Q = ginc.cfg.n_entities, ginc.cfg.n_properties
    rng = np.random.default_rng([seed, _PROMPTS, 4, k, int(concept)])
    s0 = rng.integers(1, Q, size=n_samples)
    states = _example_states(ginc, np.full(n_samples, concept), rng.integers(0, E, size=(n_samples, 1)), s0, k,
                             rng)[:, 0]
    return ginc.state_tokens[states], _prompt_start(ginc, s0)


@dataclass(frozen=True, eq=False)
class GINCPrompts:
    tokens: np.ndarray          # [P, L] int64, L = n (k + 1) + k - 1
    labels: np.ndarray          # [P] token id argmax p(o_k | x_test, θ*)
    label_probs: np.ndarray     # [P, V + 1] p(o_k | x_test, θ*) under the prompt's start (column 0 is 0)
    concepts: np.ndarray        # [P] θ* of each prompt
    start_property: np.ndarray  # [P] s0 (released_code_unseen: -1, it has none)
    states: np.ndarray          # [P, n + 1, k] hidden states of the examples (the last one in full)
    k: int
    n: int

    @property
    def x_test(self) -> np.ndarray:
        """[P, k - 1] the test input: the prompt's last ``k - 1`` tokens."""
        return self.tokens[:, self.tokens.shape[1] - (self.k - 1):]


def make_prompts(ginc: GINC, k: int, n: int, n_prompts: int, seed: int,
                 concepts: str = "pretrain") -> GINCPrompts:
    """``n_prompts`` in-context prompts with ``n`` examples of length ``k`` (the module docstring
    shows the layout). ``concepts`` picks θ*:

    - ``"pretrain"``: uniform over the pretraining concepts (all of them, also under
      ``single_concept``, as in the released code);
    - ``"unseen"``: uniform over the unseen concepts, built exactly like ``"pretrain"`` (the paper);
    - ``"released_code_unseen"``: the released code's "OOD" prompts, which are not drawn from
      the unseen HMMs at all: each example keeps one uniform entity and takes ``k`` properties
      i.i.d. uniform from ``1..Q-1``; the label is the argmax under a random unseen concept with
      a uniform start over all states.

    The in-context examples' outputs are sampled; only the test output is the argmax."""
    if concepts not in _PROMPT_KINDS:
        raise ValueError(f"make_prompts: concepts must be one of {sorted(_PROMPT_KINDS)}, got {concepts!r}")
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"make_prompts needs k >= 2 (x_test has k - 1 tokens), got {k!r}")
    if not isinstance(n, int) or n < 0 or not isinstance(n_prompts, int) or n_prompts < 1:
        raise ValueError(f"make_prompts needs n >= 0 and n_prompts >= 1, got n={n!r}, n_prompts={n_prompts!r}")
    pool = ginc.pretrain_concepts if concepts == "pretrain" else ginc.unseen_concepts
    if len(pool) == 0:
        raise ValueError("make_prompts: this config has no unseen concepts (n_pretrain_concepts == n_concepts)")

    cfg = ginc.cfg
    E, Q, S, P = cfg.n_entities, cfg.n_properties, cfg.n_states, n_prompts
    rng = np.random.default_rng([seed, _PROMPTS, _PROMPT_KINDS[concepts], k, n])
    theta = rng.choice(pool, size=P)
    v0 = rng.integers(0, E, size=(P, n + 1))
    if concepts == "released_code_unseen":
        s0 = np.full(P, -1)
        v = np.broadcast_to(v0[..., None], (P, n + 1, k))
        states = v * Q + rng.integers(1, Q, size=(P, n + 1, k))
        start = np.full((P, S), 1.0 / S)
    else:
        s0 = rng.integers(1, Q, size=P)
        states = _example_states(ginc, theta, v0, s0, k, rng)
        start = _prompt_start(ginc, s0)
    examples = np.concatenate([ginc.state_tokens[states], np.full((P, n + 1, 1), DELIMITER_ID)], axis=2)
    tokens = examples.reshape(P, -1)[:, : n * (k + 1) + k - 1].astype(np.int64)
    x_test = tokens[:, tokens.shape[1] - (k - 1):]
    label_probs = concept_predictive(ginc, x_test, theta, start=start)
    return GINCPrompts(tokens, label_probs.argmax(1), label_probs, theta, s0, states, k, n)


# ---- the layout of a make_prompts prompt ------------------------------------------------------

def example_spans(k: int, n: int) -> np.ndarray:
    """``[n, 2]`` the ``[start, end)`` positions of ``x_i y_i`` in a ``make_prompts`` prompt (the
    delimiter after ``y_i`` excluded)."""
    starts = np.arange(n) * (k + 1)
    return np.stack([starts, starts + k], axis=1)


def delimiter_positions(k: int, n: int) -> np.ndarray:
    """``[n]`` the positions of the delimiters after ``y_1 .. y_n`` in a ``make_prompts`` prompt (the
    last one marks where ``x_test`` begins)."""
    return example_spans(k, n)[:, 1]


@dataclass(frozen=True, eq=False)
class GINCOrderPrompts:
    tokens: np.ndarray          # [sets, orders, tests, L] the same n examples in every order, then x_test
    labels: np.ndarray          # [sets, tests] argmax p(o_k | x_test, θ*)
    concepts: np.ndarray        # [sets] θ* of each set
    start_property: np.ndarray  # [sets] s0 of each set
    orders: np.ndarray          # [orders, n] the permutations, orders[0] the identity
    k: int
    n: int


def make_order_prompts(ginc: GINC, k: int, n: int, n_sets: int, n_tests: int, seed: int) -> GINCOrderPrompts:
    """The paper's order-sensitivity probe: ``n_sets`` sets of ``n`` in-context examples (one concept
    and one start property per set, as in ``make_prompts``), each set written in all ``n!`` orders,
    each order followed by the same ``n_tests`` test inputs of the set's concept and start property.
    Accuracy per (set, order) over the tests, compared across orders, measures how much the order
    alone matters: the examples and the tests are identical."""
    import itertools

    if not isinstance(n, int) or not 1 <= n <= 6:
        raise ValueError(f"make_order_prompts needs 1 <= n <= 6 examples (n! orders), got {n!r}")
    if not isinstance(k, int) or k < 2 or n_sets < 1 or n_tests < 1:
        raise ValueError(f"make_order_prompts needs k >= 2, n_sets >= 1, n_tests >= 1; got {k!r}, {n_sets!r}, "
                         f"{n_tests!r}")
    E, Q = ginc.cfg.n_entities, ginc.cfg.n_properties
    rng = np.random.default_rng([seed, _PROMPTS, 3, k, n])
    theta = rng.choice(ginc.pretrain_concepts, size=n_sets)
    s0 = rng.integers(1, Q, size=n_sets)
    examples = _example_states(ginc, theta, rng.integers(0, E, size=(n_sets, n)), s0, k, rng)      # [sets, n, k]
    tests = _example_states(ginc, theta, rng.integers(0, E, size=(n_sets, n_tests)), s0, k - 1, rng)
    x_test = ginc.state_tokens[tests]                                                         # [sets, tests, k-1]
    start = np.repeat(_prompt_start(ginc, s0), n_tests, axis=0)
    probs = concept_predictive(ginc, x_test.reshape(n_sets * n_tests, k - 1), np.repeat(theta, n_tests),
                               start=start)
    labels = probs.argmax(1).reshape(n_sets, n_tests)
    orders = np.array(list(itertools.permutations(range(n))))
    ex_tokens = np.concatenate([ginc.state_tokens[examples], np.full((n_sets, n, 1), DELIMITER_ID)], axis=2)
    context = ex_tokens[:, orders].reshape(n_sets, len(orders), n * (k + 1))                 # [sets, orders, n(k+1)]
    tokens = np.concatenate([np.broadcast_to(context[:, :, None], (n_sets, len(orders), n_tests, n * (k + 1))),
                             np.broadcast_to(x_test[:, None], (n_sets, len(orders), n_tests, k - 1))], axis=3)
    return GINCOrderPrompts(tokens.astype(np.int64), labels, theta, s0, orders, k, n)


def concept_predictive(ginc: GINC, tokens: np.ndarray, concept, start: np.ndarray | None = None,
                       epsilon: float = 0.0) -> np.ndarray:
    """``p(next token | tokens, θ)`` ``[P, V + 1]`` under one concept per prompt.

    ``concept`` is an id or ``[P]`` ids; ``start [P, S]`` replaces the concepts' own start
    distributions (the prompt labels use ``(U{entities}, s0)``)."""
    tokens = np.asarray(tokens)
    P = tokens.shape[0]
    concept = np.broadcast_to(np.asarray(concept), (P,))
    start = ginc.start[concept] if start is None else np.asarray(start)
    _, nxt = forward_filter(tokens, ginc.entity_transition, ginc.property_transitions[concept][None],
                            start[None], ginc.state_tokens, ginc.cfg.model_vocab_size, epsilon)
    return nxt[0]


def symbol_names(vocab_size: int) -> list[str]:
    """Names of the V symbols: ``/``, then ``a..z``, then ordered pairs of distinct letters
    (``ab, ac, ..., az, ba, ...``), the released tokenizer's words."""
    letters = string.ascii_lowercase
    words = list(letters) + [a + b for a in letters for b in letters if a != b]
    if vocab_size - 1 > len(words):
        raise ValueError(f"symbol_names covers V <= {len(words) + 1}, got {vocab_size}")
    return ["/"] + words[: vocab_size - 1]


def decode(tokens, vocab_size: int) -> str:
    """Token ids as text, e.g. ``"l g ag / e t"``; id 0 shows as ``[endoftext]``."""
    names = ["[endoftext]"] + symbol_names(vocab_size)
    return " ".join(names[int(t)] for t in np.asarray(tokens).reshape(-1))
