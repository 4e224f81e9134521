"""Analyses that read trained or exactly solved models: probes, order parameters, spectra."""

from .spinglass import (ContrastRatioGrid, GradientTrainingConfig, Marginals, SpinGlass, TrainingResult,
                        boltzmann_covariance, boltzmann_gaussian, contrast_ratio, contrast_ratio_grid, energy,
                        hessian, message_passing, message_passing_loop, prediction_error, spin_glass,
                        spin_glass_of, train_linear_attention, zero_mode_fraction, zero_mode_fraction_law)

__all__ = ["SpinGlass", "Marginals", "ContrastRatioGrid", "GradientTrainingConfig", "TrainingResult",
           "spin_glass", "spin_glass_of", "energy", "boltzmann_gaussian", "boltzmann_covariance",
           "message_passing", "message_passing_loop", "contrast_ratio", "prediction_error", "hessian",
           "zero_mode_fraction", "zero_mode_fraction_law", "train_linear_attention", "contrast_ratio_grid"]
