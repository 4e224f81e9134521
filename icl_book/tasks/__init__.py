"""Prompt and corpus generators. Each task is a frozen dataclass; batches are pure functions of
a seed, so runs and resumed runs see the same data."""

from .ginc import (DELIMITER_ID, PAD_ID, GINC, GINCConfig, GINCDocuments, GINCPrompts, build_hmms, decode,
                   make_prompts, pretraining_tokens, symbol_names)
from .classification import ClassificationPrompts, ClassificationTask
from .regression import LinearRegressionTask, predictions_at_x, to_sequence

__all__ = ["LinearRegressionTask", "to_sequence", "predictions_at_x",
           "GINCConfig", "GINC", "GINCDocuments", "GINCPrompts", "build_hmms", "pretraining_tokens",
           "make_prompts", "symbol_names", "decode", "PAD_ID", "DELIMITER_ID",
           "ClassificationTask", "ClassificationPrompts"]
