"""Exact Bayes references and classical baselines, all called like the trained models."""

from ..hmm import forward_filter
from ..tasks.ginc import concept_predictive
from .hmm import HMMPredictive, pretraining_predictive
from .regression import (averaging, bayes_posterior_mean, expected_bayes_error_noiseless,
                         incontext_errors, least_squares, nearest_neighbours, prior_mean, ridge)
from .task_diversity import dmmse, incontext_predictions

__all__ = ["ridge", "least_squares", "bayes_posterior_mean", "nearest_neighbours", "averaging",
           "prior_mean", "incontext_errors", "expected_bayes_error_noiseless",
           "pretraining_predictive", "concept_predictive", "forward_filter", "HMMPredictive",
           "dmmse", "incontext_predictions"]
