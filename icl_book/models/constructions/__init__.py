"""Hand-built models: weights set by a theory, through the book's one transformer.

One module per chapter's construction. Each builds a ``Transformer`` whose forward pass equals
an estimator of ``icl_book.bayes`` (tested to float64 precision), so that the analyses of trained
models can first be run on a model whose mechanism is known.
"""

from .retrieval import HARD, SINK, noise_temperature, retrieval_transformer, segmentable
from .kernel_regression import kernel_inputs, kernel_regression_transformer  # noqa: F401

__all__ = ["HARD", "SINK", "noise_temperature", "retrieval_transformer", "segmentable"]
from .two_tower import IN_CONTEXT_HEAD, MERGE_HEAD, two_tower_transformer  # noqa: F401
