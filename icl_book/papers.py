"""The papers' published numbers that the book compares against, each with its citation.

Keys in ``references.bib`` name the papers. Numbers are transcribed from the papers (figure or
table named in ``where``); nothing here is computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class PaperValue:
    value: float | None    # the number, where the paper gives one
    text: str              # how the paper states it
    cite: str              # bibtex key
    where: str             # figure, table or section
    spread: float | None = None   # the spread the paper states for it: a standard deviation or CI half-width
    low: float | None = None      # the range the paper states, where it gives one instead of a value
    high: float | None = None

    def __post_init__(self):
        if (self.low is None) != (self.high is None) or (self.low is not None and self.low > self.high):
            raise ValueError(f"PaperValue needs both ends of a range, low <= high; got {self.low}, {self.high}")

    def __str__(self) -> str:
        return f"{self.text} ({self.where})"


def listed(values: dict, name: str, fmt: str = "{}") -> str:
    """``{25: 0.943, 100: 0.773}`` as "0.943, 0.773 at P = 25, 100": a table's row in words."""
    return f"{', '.join(fmt.format(v) for v in values.values())} at {name} = {', '.join(map(str, values))}"


GARG_2022 = {
    # Figure 2 (left): the transformer's normalised squared error matches least squares, which
    # is zero once the prompt holds d = 20 examples; 3-NN and averaging stay far above it.
    "transformer_error_at_2d": PaperValue(0.0, "≈ 0 at 40 examples, d = 20", "garg2022what", "Fig. 2"),
    "transformer_vs_least_squares": PaperValue(0.0, "matches least squares at every prompt length",
                                               "garg2022what", "Fig. 2"),
    "knn_error_at_2d": PaperValue(None, "3-NN and averaging stay between about 0.6 and 1.0", "garg2022what",
                                  "Fig. 2", low=0.6, high=1.0),
    "model": PaperValue(None, "12 layers, 8 heads, width 256; Adam 1e-4, batch 64, 500k steps, curriculum",
                        "garg2022what", "Sec. 3"),
}


XIE_2022 = {
    # The model-size comparison: validation loss at V = 50 of the models whose k = 10, n = 64
    # accuracies are in the curves below.
    "val_loss_v50": {"4L": PaperValue(1.50, "1.50", "xie2022explanation", "model-size comparison"),
                     "12L": PaperValue(1.33, "1.33", "xie2022explanation", "model-size comparison"),
                     "16L": PaperValue(1.33, "1.33", "xie2022explanation", "model-size comparison"),
                     "LSTM": PaperValue(1.35, "1.35", "xie2022explanation", "model-size comparison")},
    # Training budgets: transformers stop at step 6000 of 8 x 1024 tokens; the LSTM runs 10 epochs
    # over the 10.24M-token corpus.
    "train_tokens": {"transformer": PaperValue(6000 * 8 * 1024, "6,000 steps x 8 x 1024 tokens",
                                               "xie2022explanation", "experimental details"),
                     "LSTM": PaperValue(10 * 10_240_000, "10 epochs of 10.24M tokens", "xie2022explanation",
                                        "experimental details")},
    # Sensitivity to example order: the same 4 examples in all 24 orders, 4-layer model, V = 50.
    "order_spread": PaperValue(None, "10–40 % spread of accuracy over the 24 orders of the same 4 examples",
                               "xie2022explanation", "example-order experiment, 4L, V = 50", low=10.0, high=40.0),
    # The low-temperature setting (transition temperature 0.01, 12 concepts, V = 100).
    "low_temp_dip": PaperValue(None, "few-shot accuracy falls below zero-shot, then recovers with more examples",
                               "xie2022explanation", "zero-shot vs few-shot experiment, τ = 0.01, V = 100"),
    # The theory's premise: a language model that fits the pretraining distribution predicts as the
    # pretraining posterior predictive, so on a prompt it does what the exact predictor does.
    "follows_predictive": PaperValue(0.0, "the in-context predictor is the pretraining posterior predictive",
                                     "xie2022explanation", "Sec. 2, the in-context predictor (Eq. 2)"),
    "fits_pretraining": PaperValue(0.0, "the LM fits the pretraining distribution exactly (KL 0)",
                                   "xie2022explanation", "Sec. 2, the pretraining assumption"),
}

# The GINC paper's in-context accuracy curves, every (model, V, k, n), as read from the saved
# outputs of the official repository's plotting notebook (Xie et al. 2022).
GINC_CURVES_FILE = Path(__file__).resolve().parent / "paperdata" / "ginc_curves.txt"
# Section headings in that file, by the short names the book uses.
GINC_SECTIONS = {
    "16-layer (large, ~115M)": "16L",
    "12-layer (medium, ~85M)": "12L",
    "4-layer (small, ~29M)": "4L",
    "4-layer small, OOD-concept prompts": "4L-unseen-concepts",
    "4-layer small, random-data ablation": "4L-random-tokens",
    "4-layer small, no-slot-prior ablation": "4L-single-concept",
    "4-layer small, vic=0.0 fast-changing-entity ablation": "4L-fast-entities",
    "LSTM 6x768": "LSTM",
}


@lru_cache(maxsize=None)
def ginc_curves() -> dict[tuple[str, int, int], dict[int, tuple[float, float]]]:
    """``{(model, V, k): {n: (accuracy %, 95 % CI half-width)}}`` from the paper's curves."""
    curves, section = {}, None
    for line in GINC_CURVES_FILE.read_text().splitlines():
        if line.startswith("### "):
            section = GINC_SECTIONS[line[4:].strip()]
        elif line.startswith("V="):
            v, k = map(int, re.match(r"V=(\d+) k=(\d+):", line).groups())
            points = re.findall(r"n=(\d+):([\d.]+)±([\d.]+)", line)
            curves[(section, v, k)] = {int(n): (float(m), float(ci)) for n, m, ci in points}
    return curves


def ginc_accuracy(model: str, vocab_size: int, k: int, n: int) -> PaperValue:
    """The paper's in-context accuracy (%) of ``model`` at one point of its curves, with its 95 % CI."""
    mean, ci = ginc_curves()[(model, vocab_size, k)][n]
    return PaperValue(mean, f"{mean} ± {ci} over 5 seeds", "xie2022explanation",
                      f"GINC curves, {model}, V = {vocab_size}, k = {k}, n = {n}", spread=ci)


def ginc_range(model: str, vocab_size: int) -> PaperValue:
    """The range of the paper's accuracies (%) of ``model`` over every k and n: for curves it calls flat."""
    values = [m for (name, v, _), curve in ginc_curves().items() if name == model and v == vocab_size
              for m, _ in curve.values()]
    lo, hi = min(values), max(values)
    return PaperValue((lo + hi) / 2, f"flat, {lo}–{hi} % over every k and n", "xie2022explanation",
                      f"GINC curves, {model}, V = {vocab_size}", low=lo, high=hi)


# Li, Bai & Huang (PRE 2025), "Spin glass model of in-context learning": numbers from the result
# files committed in the paper's official repository (yu-hao-Li/spin-glass-model-of-in-context-learning:
# fig-2, fig-4/data, fig-S1/data-a, fig-S7, fig-S8/data; means over the repeats the scripts ran). Tables
# first, then the values the scorecard compares with, whose text is made from the tables.
LI_2025 = {
    # contrast ratio cos(m, I) at D = 20, lambda0 = 1, N = 100, by the number of tasks P
    "contrast_ratio_N100": {100: 0.33, 200: 0.52, 400: 0.68, 600: 0.77, 1000: 0.87},
    # zero-eigenvalue fraction of the Hessian at D = 20, N = 100, by P
    "zero_mode_fraction": {25: 0.943, 100: 0.773, 250: 0.433, 400: 0.093, 450: 0.048},
}

LI_2025_VALUES = {
    "zero_mode_fraction": PaperValue(None, listed(LI_2025["zero_mode_fraction"], "P"),
                                     "li2025spinglass", "zero-mode figure, D = 20, N = 100"),
    # test loss of gradient training (Adam 0.01, 300 full-batch epochs) at D = 10, N = 100: one run each
    "few_task_loss": PaperValue(2.10, "test loss 2.10 at P = 10, above the 1.0 of predicting 0", "li2025spinglass",
                                "Fig. 2, D = 10, N = 100, 300 epochs"),
    "many_task_loss": PaperValue(0.114, "test loss 0.114 at P = 1000", "li2025spinglass",
                                 "Fig. 2, D = 10, N = 100, 300 epochs"),
    # message-passing marginals at D = 10, N = 100, P = 5000, lambda0 = 0.01, beta = 100 (ranges)
    "mp_diag_mean": PaperValue(0.855, "diagonal means 0.84–0.87", "li2025spinglass",
                               "Fig. 2, D = 10, P = 5000, λ0 = 0.01", low=0.84, high=0.87),
    "mp_diag_var": PaperValue(0.085, "diagonal variances 0.078–0.092", "li2025spinglass",
                              "Fig. 2, D = 10, P = 5000, λ0 = 0.01", low=0.078, high=0.092),
    "contrast_ratio_N100": PaperValue(None, listed(LI_2025["contrast_ratio_N100"], "P"),
                                      "li2025spinglass", "Fig. 4a, D = 20, λ0 = 1, N = 100"),
    "mp_error_N20": PaperValue(0.534, "0.534 ± 0.030 at N = 20 (50 repeats)", "li2025spinglass",
                               "Fig. 4b, D = 20, P = 10⁴, λ0 = 0.01", spread=0.030),
    "mp_error_N200": PaperValue(0.113, "0.113 ± 0.005 at N = 200 (50 repeats)", "li2025spinglass",
                                "Fig. 4b, D = 20, P = 10⁴, λ0 = 0.01", spread=0.005),
    "gd_error_N200": PaperValue(0.106, "0.106 ± 0.005 at N = 200 (50 repeats)", "li2025spinglass",
                                "Fig. 4b, Adam 1e-3, weight decay 0.01, 5000 epochs", spread=0.005),
    "peak_merged": PaperValue(4.98, "4.98 ± 1.25 at α = 1.05 (50 repeats)", "li2025spinglass",
                              "Fig. S1a, D = 20, N = 100, no weight decay", spread=1.25),
    "peak_separate": PaperValue(9.15, "9.15 ± 3.53 at α = 1.05 (50 repeats)", "li2025spinglass",
                                "Fig. S1a, D = 20, N = 100, no weight decay", spread=3.53),
    "peak_alpha": PaperValue(1.05, "α = 1.05, for both models", "li2025spinglass", "Fig. S1a"),
    "error_alpha_2": PaperValue(0.395, "0.395 ± 0.036 at α = 2 (merged)", "li2025spinglass", "Fig. S1a",
                                spread=0.036),
    "softmax_ratio": PaperValue(2.47, "softmax attention 0.279 against message passing 0.113 at N = 200: 2.5 times",
                                "li2025spinglass", "Fig. S8, D = 20"),
    "transformer_ratio": PaperValue(2.25, "a transformer 0.266 against message passing 0.118 at N = 190: 2.3 times",
                                    "li2025spinglass", "Fig. S8, D = 20"),
    "architectures": PaperValue(None, "softmax attention 0.40 / 0.28 and a transformer about 0.41 / 0.27, "
                                      "against linear attention 0.19 / 0.11, at N = 100 / 200",
                                "li2025spinglass", "Fig. S8, D = 20"),
}

LI_2025_CURVES = {
    # Fig. 4b: test error against N, message passing and gradient training (mean over 50 repeats)
    "error_vs_N": {"N": [20, 40, 60, 80, 100, 120, 140, 160, 180, 200],
                   "message_passing": [0.534, 0.362, 0.277, 0.224, 0.192, 0.166, 0.148, 0.135, 0.124, 0.113],
                   "gradient": [0.536, 0.358, 0.275, 0.220, 0.189, 0.161, 0.142, 0.129, 0.116, 0.106]},
    # Fig. S1a: test error against alpha = P / D^2 without weight decay (mean and std over 50 repeats)
    "interpolation": {"alpha": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15,
                                1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0],
                      "merged": [2.841, 2.625, 2.457, 2.308, 2.202, 2.052, 2.012, 2.009, 2.072, 2.325, 2.794, 4.037,
                                 4.976, 3.418, 2.379, 1.539, 0.982, 0.800, 0.625, 0.548, 0.498, 0.452, 0.422, 0.395],
                      "merged_std": [0.320, 0.223, 0.259, 0.228, 0.224, 0.192, 0.223, 0.264, 0.246, 0.306, 0.538, 0.927,
                                     1.250, 0.707, 0.621, 0.306, 0.129, 0.090, 0.065, 0.050, 0.045, 0.037, 0.033, 0.036],
                      "separate": [2.159, 1.951, 1.808, 1.660, 1.624, 1.573, 1.564, 1.704, 1.837, 2.100, 2.669, 4.586,
                                   9.153, 4.023, 2.393, 1.559, 1.027, 0.754, 0.631, 0.546, 0.489, 0.457, 0.418, 0.385],
                      "separate_std": [0.284, 0.235, 0.174, 0.147, 0.166, 0.150, 0.178, 0.213, 0.280, 0.289, 0.675,
                                       1.488, 3.528, 1.308, 0.667, 0.266, 0.160, 0.084, 0.065, 0.053, 0.034, 0.040,
                                       0.034, 0.024]},
    # Fig. S8: softmax attention (SA) and a full transformer (TF) against N
    "architectures": {"SA": {"N": [40, 60, 80, 100, 120, 140, 160, 180, 200],
                             "error": [0.607, 0.528, 0.446, 0.398, 0.350, 0.325, 0.294, 0.282, 0.279]},
                      "TF": {"N": [50, 70, 90, 110, 130, 150, 170, 190],
                             "error": [0.566, 0.478, 0.410, 0.372, 0.329, 0.296, 0.279, 0.266]}},
}

# Raventós, Paul, Chen & Ganguli (NeurIPS 2023): transformers trained on linear regression with a
# finite pool of M tasks (D = 8, K = 16 examples, noise variance 0.25).
RAVENTOS_2023 = {
    "threshold": PaperValue(None, "between 2^14 and 2^15 pretraining tasks (8 layers, width 128, 2 heads)",
                            "raventos2023pretraining", "task-diversity threshold"),
    "threshold_small": PaperValue(None, "between 2^11 and 2^12 for a 4-layer, 64-wide model",
                                  "raventos2023pretraining", "task-diversity threshold, smaller models"),
    "below": PaperValue(None, "below the threshold the transformer behaves like dMMSE, Bayes for the finite pool",
                        "raventos2023pretraining", "task-diversity threshold"),
    "above": PaperValue(None, "above it, like ridge, Bayes for the Gaussian prior, also on tasks outside the pool",
                        "raventos2023pretraining", "task-diversity threshold"),
    "setting": PaperValue(None, "D = 8, K = 16, σ² = 0.25; 8 layers, width 128, 2 heads; batch 256, 500k steps",
                          "raventos2023pretraining", "experimental setup"),
    # the same thresholds as numbers, for the chapter's figure: (lower, upper) pool sizes at D = 8
    "d": 8,
    "threshold_range": (2 ** 14, 2 ** 15),
    "threshold_small_range": (2 ** 11, 2 ** 12),
}

# Lu, Letey, Zavatone-Veth, Maiti & Pehlevan (PNAS 2025): linear attention on the same features,
# in the limit d -> infinity with K = kappa d pretraining tasks and n = tau d^2 pretraining samples.
LU_2025 = {
    "tau": PaperValue(1.0, "double descent in the pretraining samples, peaked at τ = n / d² = 1", "lu2025asymptotic",
                      "asymptotic theory"),
    "kappa": PaperValue(1.0, "a transition from memorising the tasks to in-context learning near κ = K / d ≈ 1",
                        "lu2025asymptotic", "asymptotic theory"),
}


ABERNETHY_2024 = {
    # The paper's claims, made executable (its full text and code are not public): the mechanism
    # (segment, infer a sparse hypothesis, apply it) is implementable by a transformer with
    # sample-complexity guarantees; empirically, segmentation is the hard part, and attention
    # maps mirror the inference step.
    "mechanism": PaperValue(None, "segment, infer a sparse hypothesis, apply it: implementable by a transformer",
                            "abernethy2024mechanism", "abstract"),
    "segmentation_is_hard": PaperValue(None, "ambiguous delimiters make segmentation the hard part",
                                       "abernethy2024mechanism", "abstract"),
    "attention_mirrors_inference": PaperValue(None, "attention maps mirror the inference step",
                                              "abernethy2024mechanism", "abstract"),
}

# Sclar, Choi, Tsvetkov & Suhr, "Quantifying Language Models' Sensitivity to Spurious Features in
# Prompt Design" (ICLR 2024; arXiv 2310.11324), abstract: meaning-preserving changes of prompt format
# (separators, spacing, casing) move few-shot accuracy by up to 76 points on LLaMA-2-13B.
SCLAR_2024 = {
    "format_spread": PaperValue(76, "up to 76 accuracy points between prompt formats (LLaMA-2-13B)",
                                "sclar2024quantifying", "abstract"),
}

GARG_2022_SPARSE = {
    # Sparse linear functions, d = 20, s = 3: squared error normalised so that predicting zero
    # scores 1, for the 12-layer transformer and Lasso at its best alpha.
    "transformer_at_5": PaperValue(0.58, "0.58 at 5 examples", "garg2022what", "sparse linear functions"),
    "transformer_at_10": PaperValue(0.09, "0.09 at 10 examples", "garg2022what", "sparse linear functions"),
    "lasso_at_5": PaperValue(0.62, "0.62 at 5 examples", "garg2022what", "sparse linear functions"),
    "lasso_at_10": PaperValue(0.08, "0.08 at 10 examples", "garg2022what", "sparse linear functions"),
}

# Han, Wang, Zhao & Ji, "Understanding Emergent In-Context Learning from a Kernel Regression
# Perspective" (TMLR 2025; arXiv 2305.12766). Synthetic numbers from Appendix C (Table 3: a mixture of
# 8 HMM tasks, 80 states, 100 observations); the rest measured on GPT-J-6B, quoted as reported.
_HAN_N = (1, 2, 4, 8, 16, 32, 64, 128)
HAN_2025 = {
    "table3_n": _HAN_N,
    # distance of kernel regression's output to the Bayes posterior predictive, and its accuracy
    "table3_distance": dict(zip(_HAN_N, (1.322, 0.942, 0.519, 0.218, 0.163, 0.085, 0.093, 0.083))),
    "table3_accuracy": dict(zip(_HAN_N, (0.337, 0.532, 0.745, 0.901, 0.926, 0.968, 0.961, 0.964))),
    "table3_floor": PaperValue(0.083, "distance levels off above zero: 0.085, 0.093, 0.083 at n = 32, 64, 128",
                               "han2025kernel", "App. C, Table 3"),
    "table3_accuracy_at_128": PaperValue(0.964, "0.964 at 128 demonstrations", "han2025kernel", "App. C, Table 3"),
    "table3_distance_drop": PaperValue(1.322 / 0.083, "1.322 at n = 1 to 0.083 at n = 128 (16x smaller)",
                                       "han2025kernel", "App. C, Table 3"),
    # GPT-J on SST-2: the best head's kernel vote (layer 17, head 10)
    "best_head_model_agreement": PaperValue(0.892, "89.2 % agreement with the model (GPT-J, SST-2, layer 17 "
                                            "head 10)", "han2025kernel", "Sec. 5.2"),
    "best_head_truth_agreement": PaperValue(0.864, "86.4 % agreement with the truth (GPT-J, SST-2)",
                                            "han2025kernel", "Sec. 5.2"),
    "best_head_location": PaperValue(17 / 28, "good heads in a few adjacent middle layers (best: layer 17 of 28)",
                                     "han2025kernel", "Sec. 5.2"),
    # Table 2: head selected on 700 points, agreement with the model's output on the other 300
    "table2_agreement": {"sst2": 0.797, "mnli": 0.597, "rotten_tomatoes": 0.683, "tweet_hate": 0.713,
                         "tweet_irony": 0.722, "tweet_offensive": 0.753},
    "table2_model_accuracy": {"sst2": 0.805, "mnli": 0.383, "rotten_tomatoes": 0.671, "tweet_hate": 0.539,
                              "tweet_irony": 0.519, "tweet_offensive": 0.542},
    "table2_sst2": PaperValue(0.797, "0.797 held-out agreement of the best head with GPT-J (SST-2; five more "
                              "tasks 0.597-0.753)", "han2025kernel", "Table 2", low=0.597, high=0.797),
    # Table 1: GPT-J accuracy on SST-2 with out-of-distribution demonstrations
    "table1_accuracy": {"none": 0.805, "rare_words": 0.677, "complex_phrasing": 0.788, "typos": 0.534},
    "ood_typos_drop": PaperValue(0.805 - 0.534, "typos in the demonstrations cost 27 points (0.805 → 0.534)",
                                 "han2025kernel", "Table 1"),
    "probes": PaperValue(None, "values encode the labels y_i; keys encode the model's own prediction for x_i",
                         "han2025kernel", "Sec. 5.4"),
    "which_kernel": PaperValue(None, "prediction similarity correlates with attention, weakly", "han2025kernel",
                               "Sec. 5.3"),
    "retrieval_helps": PaperValue(None, "retrieving demonstrations similar to the test input helps",
                                  "han2025kernel", "Sec. 6"),
    "order_sensitivity": PaperValue(None, "kernel regression is order invariant: it cannot explain order "
                                    "sensitivity (acknowledged)", "han2025kernel", "Sec. 6"),
}


YU_2024 = {
    # Yu & Ananiadou, EMNLP 2024 (arXiv 2402.02872): sentence classification with semantically
    # unrelated labels ("foo"/"bar") in GPT-2 large and Llama; numbers as the abstract states them.
    "heads_fraction": PaperValue(0.01, "intervening in only 1 % of heads (the in-context heads)", "yu2024twotowers",
                                 "abstract"),
    "accuracy_before": PaperValue(0.876, "ICL accuracy 87.6 % before the intervention", "yu2024twotowers",
                                  "abstract"),
    "accuracy_after": PaperValue(0.244, "24.4 % after intervening in the in-context heads (below the binary "
                                        "task's chance)", "yu2024twotowers", "abstract"),
    "value_output_labels": PaperValue(None, "the value-output vectors at each label position contain substantial "
                                            "information about the corresponding label", "yu2024twotowers",
                                      "abstract"),
    "two_towers": PaperValue(None, "query and key matrices compute the similarity between the last position and "
                                   "each label position: two towers of a learned metric", "yu2024twotowers",
                             "abstract"),
    "majority_bias_reduction": PaperValue(22.0, "a mitigation reduces majority-label bias by 22 %",
                                          "yu2024twotowers", "abstract"),
    "recency_bias_reduction": PaperValue(17.0, "a mitigation reduces recency bias by 17 %", "yu2024twotowers",
                                         "abstract"),
    "majority_bias": PaperValue(None, "majority-label bias: more demonstrations of a label, more attention on it",
                                "yu2024twotowers", "abstract"),
    "recency_bias": PaperValue(None, "recency bias: later demonstrations get larger attention scores",
                               "yu2024twotowers", "abstract"),
}
