"""Prompt and corpus generators. Each task is a frozen dataclass; batches are pure
functions of a seed, so runs and resumed runs see the same data."""

from .regression import LinearRegressionTask, predictions_at_x, to_sequence

__all__ = ["LinearRegressionTask", "to_sequence", "predictions_at_x"]
