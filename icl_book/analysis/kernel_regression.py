"""Looking for kernel regression inside a transformer (Han et al. 2025, Sec. 5), on the book's models.

Every function reads arrays, not models: ``icl_book.analysis.model_reader`` reads the book's
transformer (one cached forward pass) and ``icl_book.analysis.hf`` a Hugging Face model into the
same ``ModelReading``, so the same analyses run on both.

- ``head_votes``: per head, ``a_i`` = the largest attention of the last position inside
  demonstration ``i``'s span, and the vote ``ỹ = argmax_y Σ_i a_i e(y_i)``;
- ``select_head``: the head whose vote agrees most with a target on the first prompts, scored on
  the rest (the paper's Table 2 selects on 700 and tests on 300);
- ``attention_profile``: the last position's attention over each demonstration's input
  interpolated to a fixed number of points, its label and its delimiter, averaged;
- ``kernel_correlation``: per head, the correlation between ``a_i`` and a similarity of ``x_i``
  and ``x_test`` (the paper's prediction similarity ``P(o | x_i)ᵀ P(o | x_test)``, or any kernel);
- ``ridge_probe``: held-out accuracy of a ridge regression (``λ = 0.01``) from activations to
  one-hot targets; ``probe_grid`` runs it for every head, ``majority_rate`` is the accuracy of a
  probe that learned nothing.
"""

from __future__ import annotations

import numpy as np

from ..tasks.ginc import example_spans
from ..tasks.perturbations import SEGMENTATION_MODES, perturb_delimiters
from .model_reader import read_model


def _span_max(attention: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """``a_i`` ``[P, L, H, n]``: the largest attention inside each span."""
    spans = np.asarray(spans)
    if spans.ndim != 2 or spans.shape[1] != 2 or (spans[:, 1] <= spans[:, 0]).any():
        raise ValueError(f"spans must be [n, 2] with start < end, got {spans.tolist()}")
    if spans.max() > attention.shape[-1]:
        raise ValueError(f"a span ends at {spans.max()}, past the {attention.shape[-1]} attended positions")
    return np.stack([attention[..., s:e].max(-1) for s, e in spans], axis=-1)


def head_votes(attention: np.ndarray, spans: np.ndarray, labels: np.ndarray, n_tokens: int) -> np.ndarray:
    """``[P, L, H]`` each head's vote ``argmax_y Σ_i a_i e(y_i)`` from ``attention [P, L, H, T]``,
    demonstration ``spans [n, 2]`` and ``labels [P, n]``."""
    attention, labels = np.asarray(attention), np.asarray(labels)
    a = _span_max(attention, spans)                                                  # [P, L, H, n]
    if labels.shape != (attention.shape[0], a.shape[-1]):
        raise ValueError(f"head_votes: labels must be [P, n] = {(attention.shape[0], a.shape[-1])}, "
                         f"got {labels.shape}")
    onehot = np.eye(n_tokens)[labels]                                                 # [P, n, V]
    return np.einsum("plhn,pnv->plhv", a, onehot).argmax(-1)


def select_head(votes: np.ndarray, target: np.ndarray, n_select: int, others: dict | None = None) -> dict:
    """Pick the head whose vote agrees most with ``target [P]`` on the first ``n_select`` prompts and
    report its agreement with ``target`` (and with each array of ``others``) on the remaining ones.
    Also the agreement of every head on the held-out prompts ``[L, H]``."""
    votes, target = np.asarray(votes), np.asarray(target)
    if not 0 < n_select < len(votes):
        raise ValueError(f"select_head needs 0 < n_select < {len(votes)} prompts, got {n_select}")
    sel = (votes[:n_select] == target[:n_select, None, None]).mean(0)                 # [L, H]
    layer, head = np.unravel_index(sel.argmax(), sel.shape)
    test = votes[n_select:, layer, head]
    out = {"layer": int(layer), "head": int(head), "selection_agreement": float(sel[layer, head]),
           "agreement": float(np.mean(test == target[n_select:])),
           "held_out_by_head": (votes[n_select:] == target[n_select:, None, None]).mean(0).tolist()}
    for name, arr in (others or {}).items():
        out[f"agreement_{name}"] = float(np.mean(test == np.asarray(arr)[n_select:]))
    return out


def attention_profile(attention: np.ndarray, k: int, n: int, n_points: int = 30) -> dict:
    """The last position's attention, averaged over prompts and heads, per layer: over each
    demonstration's input ``x_i`` (``k - 1`` tokens, linearly interpolated to ``n_points`` and
    averaged over demonstrations), its label ``y_i``, its delimiter, and the test input."""
    attention = np.asarray(attention)
    P, L, H, T = attention.shape
    if T != n * (k + 1) + k - 1:
        raise ValueError(f"attention_profile: {T} positions is not a prompt of k={k}, n={n}")
    mean = attention.mean(axis=(0, 2))                                                # [L, T]
    grid = np.linspace(0, 1, n_points)
    interp = lambda a: np.interp(grid, np.linspace(0, 1, len(a)), a) if len(a) > 1 else np.full(n_points, a[0])  # noqa: E731
    spans = example_spans(k, n)
    x = np.array([[interp(mean[l, s:s + k - 1]) for s, _ in spans] for l in range(L)]).mean(1)
    return {"x": x.tolist(), "y": mean[:, spans[:, 0] + k - 1].mean(1).tolist(),
            "delimiter": mean[:, spans[:, 0] + k].mean(1).tolist(),
            "x_test": [interp(mean[l, T - (k - 1):]).tolist() for l in range(L)],
            "first": mean[:, 0].tolist(), "n_points": n_points}


def kernel_correlation(attention: np.ndarray, spans: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """``[L, H]`` Pearson correlation, over prompts and demonstrations, between each head's ``a_i``
    and ``similarity [P, n]`` (e.g. ``P(o | x_i)ᵀ P(o | x_test)``)."""
    a = _span_max(np.asarray(attention), spans)                                       # [P, L, H, n]
    s = np.asarray(similarity, float)
    if s.shape != (a.shape[0], a.shape[-1]):
        raise ValueError(f"kernel_correlation: similarity must be [P, n] = {(a.shape[0], a.shape[-1])}")
    a = a.transpose(1, 2, 0, 3).reshape(a.shape[1], a.shape[2], -1)
    a = a - a.mean(-1, keepdims=True)
    s = (s - s.mean()).reshape(-1)
    denom = np.sqrt((a ** 2).sum(-1) * (s ** 2).sum())
    return np.where(denom > 0, (a @ s) / np.where(denom > 0, denom, 1.0), 0.0)


def prediction_similarity(probs_x: np.ndarray, probs_test: np.ndarray) -> np.ndarray:
    """``[P, n]`` the paper's ``P(o | x_i)ᵀ P(o | x_test)`` from ``probs_x [P, n, V]``, ``probs_test [P, V]``."""
    return np.einsum("pnv,pv->pn", probs_x, probs_test)


def ridge_probe(features: np.ndarray, targets: np.ndarray, n_classes: int, n_train: int, lam: float = 0.01) -> float:
    """Held-out accuracy of ridge regression (``λ``, with an intercept) from ``features [N, d]`` to the
    one-hot of ``targets [N]``, trained on the first ``n_train`` rows, scored by argmax on the rest."""
    X, y = np.asarray(features, float), np.asarray(targets)
    if X.ndim != 2 or y.shape != (len(X),) or not 0 < n_train < len(X):
        raise ValueError(f"ridge_probe needs features [N, d], targets [N] and 0 < n_train < N; got {X.shape}, "
                         f"{y.shape}, {n_train}")
    X = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    Y = np.eye(n_classes)[y]
    A = X[:n_train].T @ X[:n_train] + lam * np.eye(X.shape[1])
    B = np.linalg.solve(A, X[:n_train].T @ Y[:n_train])
    return float(np.mean((X[n_train:] @ B).argmax(1) == y[n_train:]))


def majority_rate(targets: np.ndarray, n_train: int) -> float:
    """Held-out accuracy of a probe that learned nothing: always the training rows' commonest
    target. A probe's accuracy means something only above this."""
    y = np.asarray(targets).reshape(-1)
    return float(np.mean(y[n_train:] == np.bincount(y[:n_train]).argmax()))


def probe_grid(activations: np.ndarray, columns: np.ndarray, targets: np.ndarray, n_classes: int,
               n_train_prompts: int, lam: float = 0.01) -> np.ndarray:
    """``[L, H, O]`` ridge-probe accuracy of ``targets [P, n]`` from per-head activations
    ``[P, L, H, T, Dh]`` (keys or values) read at ``columns [O, n]`` (one row of ``n`` positions
    per offset); trained on the first ``n_train_prompts`` prompts, scored on the rest (so no
    prompt is on both sides)."""
    act, cols = np.asarray(activations), np.atleast_2d(columns)
    P, L, H, T, _ = act.shape
    if cols.min() < 0 or cols.max() >= T:
        raise ValueError(f"probe_grid: a column leaves the prompt (0 .. {T - 1}): {cols.min()} .. {cols.max()}")
    y, n_train = np.asarray(targets).reshape(-1), n_train_prompts * cols.shape[1]
    out = np.zeros((L, H, len(cols)))
    for j, at in enumerate(cols):
        for l in range(L):
            for h in range(H):
                out[l, h, j] = ridge_probe(act[:, l, h, at].reshape(P * len(at), -1), y, n_classes, n_train, lam)
    return out


PROBE_OFFSETS = (-1, 0, 1, 2, 3)   # positions relative to the label y_i, as in the paper


def analyse_prompts(reading_fn, tokens: np.ndarray, labels: np.ndarray, bayes: np.ndarray, k: int, n: int,
                    n_tokens: int, n_select: int) -> dict:
    """The paper's experiments 1-5 on one model and one prompt set (``make_prompts`` layout):
    ``reading_fn(tokens, kv_positions)`` returns a ``ModelReading`` (``read_model`` or the HF adapter's),
    ``labels [P]`` the true labels, ``bayes [P]`` the exact Bayes predictions. Heads are selected on
    the first ``n_select`` prompts and scored on the rest."""
    spans = example_spans(k, n)
    label_pos = spans[:, 0] + k - 1                                                  # y_i
    probe_pos = np.unique(np.concatenate([label_pos + o for o in PROBE_OFFSETS]))
    r = reading_fn(tokens, probe_pos)
    pred = r.prediction
    y = tokens[:, label_pos]                                                         # [P, n]
    votes = head_votes(r.attention, spans, y, n_tokens)
    majority = np.eye(n_tokens)[y].sum(1).argmax(-1)                                 # uniform attention's vote
    truth_in_prompt = (y == labels[:, None]).any(1)
    out = {"k": k, "n": n, "n_prompts": len(tokens), "n_select": n_select,
           "model_accuracy": float(np.mean(pred == labels)), "bayes_accuracy": float(np.mean(bayes == labels)),
           "model_bayes_agreement": float(np.mean(pred == bayes)),
           "majority_vote_agreement": float(np.mean(majority[n_select:] == pred[n_select:])),
           "vote_ceiling": float(np.mean((y == pred[:, None]).any(1)[n_select:])),
           "truth_in_prompt": float(np.mean(truth_in_prompt))}
    out["best_head"] = select_head(votes, pred, n_select, others={"truth": labels, "bayes": bayes})
    by_head = np.array(out["best_head"]["held_out_by_head"])                         # [L, H]
    out["layer_best"] = by_head.max(1).tolist()
    out["profile"] = attention_profile(r.attention, k, n)
    # which kernel: the model's own prediction similarity P(o | x_i)ᵀ P(o | x_test)
    z = r.logits - r.logits.max(-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    sim = prediction_similarity(probs[:, label_pos - 1], probs[:, -1])
    out["kernel_correlation"] = kernel_correlation(r.attention, spans, sim).tolist()
    # probes: values encode y_i; keys encode the model's own prediction for x_i
    own = r.logits[:, label_pos - 1].argmax(-1)                                      # [P, n]
    index = {int(p): j for j, p in enumerate(probe_pos)}
    cols = np.array([[index[int(p + off)] for p in label_pos] for off in PROBE_OFFSETS])
    out["probe_offsets"] = list(PROBE_OFFSETS)
    out["probe_values_label"] = probe_grid(r.values, cols, y, n_tokens, n_select).tolist()
    out["probe_keys_own_prediction"] = probe_grid(r.keys, cols, own, n_tokens, n_select).tolist()
    out["probe_null"] = {"values_label": majority_rate(y, n_select * n),
                         "keys_own_prediction": majority_rate(own, n_select * n)}
    out["own_prediction_is_label"] = float(np.mean(own == y))
    return out


# ---- the segmentation lens on the HMM prompts: delimiters that lie, go missing or move -----------
#
# ``tasks.perturbations.perturb_delimiters`` breaks the delimiters; ``segmentation_controls`` scores
# a model on the result. The scorer lives here, not in ``analysis/retrieval.py``: it reads
# ``make_prompts`` prompts and scores them against this chapter's exact predictor;
# ``analysis/retrieval.py`` reads the retrieval task's prompts and its Bayes learner.

def segmentation_controls(model, ginc, k: int, n: int, rates=(0.0, 0.1, 0.3, 0.5, 1.0), n_prompts: int = 500,
                          seed: int = 50_000, modes=SEGMENTATION_MODES, batch: int = 256) -> dict:
    """The segmentation lens on one model: ``n_prompts`` fresh ``make_prompts`` prompts of ``n``
    demonstrations from ``ginc`` (a ``GINC`` or its ``GINCConfig``; the pretraining concepts), each
    perturbed by ``perturb_delimiters`` at every rate of every mode. Per mode and rate, with 95 %
    intervals over prompts:

    - ``model_accuracy``: the model's last-token prediction against the true label;
    - ``model_bayes_agreement``: against the exact Bayes prediction on the *clean* prompt, the
      predictor that knows where the examples are and what they were (``bayes_accuracy`` its own);
    - ``bayes_perturbed_accuracy``: the exact predictor reading the perturbed prompt at the known
      positions (``split_prompts``), i.e. one that still knows the segmentation but trusts the tokens
      there; ``bayes_perturbed_impossible`` the share of prompts no task can emit (scored wrong;
      ``bayes_perturbed_on_possible`` its accuracy on the rest, ``None`` where none is left).
      For ``"missing"`` this is the clean predictor exactly: ``split_prompts`` never reads a
      delimiter, so a missing one changes nothing it sees (``bayes_perturbed_equals_clean`` = 1).

    ``natural_delimiters`` is the share of clean input tokens that already are the delimiter (an
    HMM chain can pass through property 0 inside an example): the prompts' own ρ. ``zero_shot``:
    the model and the exact predictor on the same tests with no demonstrations (``x_test`` alone),
    the floor of a learner that gets nothing from the demonstrations. ``tokens_changed``: the mean
    number of tokens per prompt the perturbation changed."""
    from ..bayes.kernel_regression import TaskFamily, exact_prediction, posterior_predictive, split_prompts
    from ..stats import mean_and_interval
    from ..tasks.ginc import DELIMITER_ID, GINCConfig, build_hmms, make_prompts

    interval = lambda hits: mean_and_interval(np.asarray(hits, dtype=np.float64))   # noqa: E731

    ginc = build_hmms(ginc) if isinstance(ginc, GINCConfig) else ginc
    rates = [float(r) for r in rates]
    if not rates or not n_prompts >= 2:
        raise ValueError(f"segmentation_controls needs rates and n_prompts >= 2, got {rates}, {n_prompts!r}")
    for mode in modes:
        if mode not in SEGMENTATION_MODES:
            raise ValueError(f"segmentation_controls: mode must be one of {SEGMENTATION_MODES}, got {mode!r}")
    family = TaskFamily.from_ginc_prompts(ginc)
    letters = np.unique(ginc.state_tokens[ginc.state_tokens != DELIMITER_ID])
    pr = make_prompts(ginc, k, n, n_prompts, seed=seed)

    def bayes_of(tokens):
        return exact_prediction(family, tokens, k, n)

    bayes, _ = bayes_of(pr.tokens)
    clean_pred = read_model(model, pr.tokens, batch=batch).prediction
    inputs = (example_spans(k, n)[:, :1] + np.arange(k - 1)).reshape(-1)
    out = {"k": k, "n": n, "n_prompts": n_prompts, "seed": seed, "rates": rates,
           "natural_delimiters": float(np.mean(pr.tokens[:, inputs] == DELIMITER_ID)),
           "clean": {"model_accuracy": interval(clean_pred == pr.labels),
                     "bayes_accuracy": interval(bayes == pr.labels),
                     "model_bayes_agreement": interval(clean_pred == bayes)},
           "modes": {}}
    # the same tests with no demonstrations at all (an n = 0 prompt is x_test alone): the floor a
    # learner that gets nothing from a broken prompt would sit at
    alone = pr.tokens[:, n * (k + 1):]
    out["zero_shot"] = {"model_accuracy": interval(read_model(model, alone, batch=batch).prediction == pr.labels),
                        "bayes_accuracy": interval(posterior_predictive(family, *split_prompts(alone, k, 0))
                                                   .prediction == pr.labels)}
    for mode in modes:
        rows = {key: [] for key in ("model_accuracy", "model_bayes_agreement", "bayes_perturbed_accuracy",
                                    "bayes_perturbed_impossible", "bayes_perturbed_on_possible",
                                    "bayes_perturbed_equals_clean", "tokens_changed")}
        # one seed for every rate: the same uniforms, so a position hit at 0.1 is also hit at 0.3
        for rate in rates:
            tokens = perturb_delimiters(pr.tokens, k, n, mode, rate, letters, seed=seed + 1)
            pred = read_model(model, tokens, batch=batch).prediction
            b, possible = bayes_of(tokens)
            rows["model_accuracy"].append(interval(pred == pr.labels))
            rows["model_bayes_agreement"].append(interval(pred == bayes))
            rows["bayes_perturbed_accuracy"].append(interval(b == pr.labels))
            rows["bayes_perturbed_impossible"].append(float(np.mean(~possible)))
            rows["bayes_perturbed_on_possible"].append(float(np.mean((b == pr.labels)[possible]))
                                                       if possible.any() else None)
            rows["bayes_perturbed_equals_clean"].append(float(np.mean(b == bayes)))
            rows["tokens_changed"].append(float(np.mean((tokens != pr.tokens).sum(1))))   # per prompt
        out["modes"][mode] = rows
    return out
