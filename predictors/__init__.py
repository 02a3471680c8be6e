"""Performance predictors on `ArchGraph`: deep-ensemble GNNs (clean and noise-aware), ranking metrics, and the
`train_predictor` entry point (see DESIGN.md). Lightning is imported only by `predictors.lit`."""

from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor
from predictors.api import evaluate, load_pool, train_predictor
from predictors.base import Prediction, Predictor, load_predictor
from predictors.metrics import kendall_tau, spearman, top_k_precision

__all__ = [
    "AccuracyPredictorConfig",
    "EnsemblePredictor",
    "Prediction",
    "Predictor",
    "evaluate",
    "kendall_tau",
    "load_pool",
    "load_predictor",
    "spearman",
    "top_k_precision",
    "train_predictor",
]
