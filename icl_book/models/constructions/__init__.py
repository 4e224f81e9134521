"""Hand-built models: weights set by a theory, through the book's one transformer.

One module per chapter's construction. Each builds a ``Transformer`` whose forward pass equals
an estimator of ``icl_book.bayes`` (tested to float64 precision), so that the analyses of trained
models can first be run on a model whose mechanism is known.
"""

from .retrieval import HARD, SINK, noise_temperature, retrieval_transformer, segmentable

__all__ = ["HARD", "SINK", "noise_temperature", "retrieval_transformer", "segmentable"]
