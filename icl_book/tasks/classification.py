"""In-context classification with arbitrary labels re-assigned in every prompt (the book's
synthetic stand-in for the foo/bar prompts of Yu & Ananiadou, EMNLP 2024).

Items are ``n_clusters * cluster_size`` tokens; cluster ``c`` holds items
``c * cluster_size .. (c + 1) * cluster_size - 1``. A prompt picks two clusters, the classes
``A`` (class 0) and ``B`` (class 1), and a random bijection from the classes to two of the
``n_labels`` label tokens, so that no label means anything outside its prompt. It writes
``n_demos`` demonstrations ``x1 x2 SEP y`` (two distinct items of the class's cluster, then its
label) and a query ``q1 q2 SEP`` whose two items are *fresh*: drawn from the query class's
cluster among the items that no demonstration of the prompt uses. The model must say the
query's label at the last ``SEP``::

    BOS  x1 x2 SEP y   x1 x2 SEP y  ...  q1 q2 SEP  → y_query

    e.g. clusters (3, 17), labels (L2, L0):   BOS 25 27 SEP L2  139 141 SEP L0  ...  29 30 SEP → L2

Class counts: ``n_A`` is uniform on ``1 .. n_demos - 1`` (both classes always appear) and the
order of the demonstrations is a uniform random permutation. The query's class follows the
training ``prior``:

- ``"proportional"``: class A with probability ``n_A / n_demos`` (the query is one more draw
  from the prompt's own class mix, so the counts are evidence about it);
- ``"independent"``: class A with probability 1/2 whatever the counts.

Probes (``probe``) fix what the training draw leaves to chance: ``n_A``, the order (``"A_first"``:
every A demonstration before every B one; ``"A_last"``: the reverse), the query's class, or an
*ambiguous* query with one fresh item of each class (in a random order).

Token ids: items ``0 .. n_items - 1``, then ``SEP``, then the label tokens, then ``BOS``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PRIORS = ("proportional", "independent")
ORDERS = ("random", "A_first", "A_last")
QUERIES = ("prior", "A", "B", "ambiguous")


@dataclass(frozen=True)
class ClassificationTask:
    n_clusters: int = 32          # clusters of item tokens (the classes a prompt may use)
    cluster_size: int = 8         # items per cluster
    n_labels: int = 4             # label tokens; each prompt maps its two classes to two of them
    n_demos: int = 8              # demonstrations before the query
    prior: str = "proportional"   # the query's class: "proportional" to the counts or "independent"

    def __post_init__(self):
        for name in ("n_clusters", "cluster_size", "n_labels", "n_demos"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(f"ClassificationTask.{name} must be an integer >= 2, got {value!r}")
        if self.cluster_size < 4:
            raise ValueError(f"ClassificationTask.cluster_size must be at least 4 (two fresh query items and two "
                             f"demonstration items), got {self.cluster_size}")
        if self.prior not in PRIORS:
            raise ValueError(f"ClassificationTask.prior must be one of {PRIORS}, got {self.prior!r}")

    # ---- the vocabulary ----
    @property
    def n_items(self) -> int:
        return self.n_clusters * self.cluster_size

    @property
    def sep(self) -> int:
        return self.n_items

    @property
    def labels(self) -> np.ndarray:
        return self.n_items + 1 + np.arange(self.n_labels)

    @property
    def bos(self) -> int:
        return self.n_items + 1 + self.n_labels

    @property
    def vocab_size(self) -> int:
        return self.n_items + 2 + self.n_labels

    @property
    def seq_len(self) -> int:
        """BOS, n demonstrations of four tokens, the query's three."""
        return 1 + 4 * self.n_demos + 3

    # ---- positions ----
    @property
    def seps(self) -> np.ndarray:
        """Positions of every SEP: the demonstrations' ``n`` and the query's (last)."""
        return 1 + 4 * np.arange(self.n_demos + 1) + 2

    @property
    def label_positions(self) -> np.ndarray:
        """Positions of the demonstrations' label tokens."""
        return self.seps[:-1] + 1

    @property
    def query_position(self) -> int:
        return int(self.seps[-1])

    def cluster_of(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(items) // self.cluster_size

    def to_dict(self) -> dict:
        return asdict(self)

    def sample(self, n_prompts: int, seed: int | np.random.Generator) -> "ClassificationPrompts":
        """Prompts from the training distribution (this task's prior)."""
        return make_prompts(self, n_prompts, seed)

    def probe(self, n_prompts: int, seed: int | np.random.Generator, *, n_a: int | None = None,
              order: str = "random", query: str = "prior") -> "ClassificationPrompts":
        """Prompts with the count of A demonstrations, their order or the query fixed."""
        return make_prompts(self, n_prompts, seed, n_a=n_a, order=order, query=query)


@dataclass
class ClassificationPrompts:
    tokens: np.ndarray         # [B, T] int64
    seps: np.ndarray           # [B, n + 1] positions of every SEP (the same in every prompt)
    targets: np.ndarray        # [B, n + 1] the label token due after each SEP (the query's last; for an
                               # ambiguous query, the label of the class of its first item)
    demo_class: np.ndarray     # [B, n] 0 (A) or 1 (B)
    query_class: np.ndarray    # [B] 0 or 1; -1 for an ambiguous query
    class_label: np.ndarray    # [B, 2] the label token of class A and of class B
    clusters: np.ndarray       # [B, 2] the clusters of class A and class B
    items: np.ndarray          # [B, n + 1, 2] the two items of each demonstration and of the query

    @property
    def n_a(self) -> np.ndarray:
        return (self.demo_class == 0).sum(1)

    @property
    def competing_label(self) -> np.ndarray:
        """The in-prompt label that is not the query's target: ``[B]``."""
        target = self.targets[:, -1]
        return np.where(self.class_label[:, 0] == target, self.class_label[:, 1], self.class_label[:, 0])


def make_prompts(task: ClassificationTask, n_prompts: int, seed: int | np.random.Generator, *,
                 n_a: int | None = None, order: str = "random", query: str = "prior") -> ClassificationPrompts:
    """Draw ``n_prompts`` prompts (vectorised); the keyword arguments fix parts of the draw."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not isinstance(n_prompts, int) or n_prompts < 1:
        raise ValueError(f"n_prompts must be a positive integer, got {n_prompts!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if query not in QUERIES:
        raise ValueError(f"query must be one of {QUERIES}, got {query!r}")
    B, n, K = n_prompts, task.n_demos, task.cluster_size
    if n_a is not None and not (isinstance(n_a, (int, np.integer)) and 1 <= n_a <= n - 1):
        raise ValueError(f"n_a must be an integer in [1, {n - 1}], got {n_a!r}")

    # Two distinct clusters, and a bijection class -> label (the first two of a random permutation).
    clusters = np.argsort(rng.random((B, task.n_clusters)), 1)[:, :2]
    class_label = task.labels[np.argsort(rng.random((B, task.n_labels)), 1)[:, :2]]
    counts = rng.integers(1, n, size=B) if n_a is None else np.full(B, int(n_a))
    # Class sequence: counts[b] zeros (A) then ones (B), permuted unless the order is fixed.
    ranked = np.arange(n)[None, :] >= counts[:, None]                       # A first: A ... A B ... B
    if order == "random":
        demo_class = np.take_along_axis(ranked, np.argsort(rng.random((B, n)), 1), 1).astype(np.int64)
    elif order == "A_first":
        demo_class = ranked.astype(np.int64)
    else:  # A_last: B ... B A ... A
        demo_class = (np.arange(n)[None, :] < n - counts[:, None]).astype(np.int64)

    # Each cluster's items in a random order per prompt: the first two are held out for the query
    # (fresh: no demonstration uses them), demonstrations draw two distinct of the other K - 2.
    perm = np.argsort(rng.random((B, 2, K)), 2)
    pick = np.argsort(rng.random((B, n, K - 2)), 2)[..., :2] + 2              # [B, n, 2] ranks >= 2
    perm_of_demo = perm[np.arange(B)[:, None], demo_class]                   # [B, n, K] its class's order
    demo_ranks = np.take_along_axis(perm_of_demo, pick, 2)                    # [B, n, 2]
    demo_items = clusters[np.arange(B)[:, None], demo_class][..., None] * K + demo_ranks  # [B, n, 2]

    if query == "prior":
        p_a = counts / n if task.prior == "proportional" else np.full(B, 0.5)
        query_class = (rng.random(B) >= p_a).astype(np.int64)
    elif query in ("A", "B"):
        query_class = np.full(B, 0 if query == "A" else 1, dtype=np.int64)
    else:
        query_class = np.full(B, -1, dtype=np.int64)
    fresh = clusters[..., None] * K + perm[..., :2]                           # [B, class, 2] the held-out items
    if query == "ambiguous":
        first = rng.integers(0, 2, size=B)                                    # which class's item comes first
        q_items = np.stack([fresh[np.arange(B), first, 0], fresh[np.arange(B), 1 - first, 0]], 1)
        query_target = class_label[np.arange(B), first]
    else:
        q_items = fresh[np.arange(B), query_class]
        query_target = class_label[np.arange(B), query_class]

    tokens = np.empty((B, task.seq_len), dtype=np.int64)
    tokens[:, 0] = task.bos
    demo_labels = np.take_along_axis(class_label, demo_class, 1)              # [B, n]
    body = np.stack([demo_items[..., 0], demo_items[..., 1], np.full((B, n), task.sep), demo_labels], 2)
    tokens[:, 1:1 + 4 * n] = body.reshape(B, 4 * n)
    tokens[:, 1 + 4 * n:] = np.stack([q_items[:, 0], q_items[:, 1], np.full(B, task.sep)], 1)
    return ClassificationPrompts(
        tokens=tokens, seps=np.broadcast_to(task.seps, (B, n + 1)).copy(),
        targets=np.concatenate([demo_labels, query_target[:, None]], 1), demo_class=demo_class,
        query_class=query_class, class_label=class_label, clusters=clusters,
        items=np.concatenate([demo_items, q_items[:, None, :]], 1))


def bayes_query_probability(task: ClassificationTask, prompts: ClassificationPrompts) -> np.ndarray:
    """P(query's class is A | the prompt) for a learner that knows the clusters: 1 or 0 for an
    unambiguous query, and the prior's share (``n_A / n`` or 1/2) for an ambiguous one, whose
    items say nothing about its class."""
    if task.prior == "proportional":
        share = prompts.n_a / task.n_demos
    else:
        share = np.full(len(prompts.tokens), 0.5)
    return np.where(prompts.query_class == -1, share, (prompts.query_class == 0).astype(float))
