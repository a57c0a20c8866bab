"""Study B statistics: stepwise regression, the repeated-split protocol, Spearman, Fisher.

- :func:`stepwise_fit` MATLAB ``stepwiselm`` semantics, closed-form sweep updates
  (:mod:`~mpirad.stats.design` encodes the tables, :mod:`~mpirad.stats.sweep` searches)
- :func:`run_protocol` the paper's 50 x 20 train/dev/test protocol over ROI x pool
  (:mod:`~mpirad.stats.pool` runs one ROI x pool)
- :func:`univariate_spearman` Spearman + Benjamini-Hochberg per ROI
- :func:`fisher_combine` Fisher's method
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.stats.design": ("UnknownLevelError",),
        "mpirad.stats.fisher": (
            "FisherResult",
            "fisher_combine",
        ),
        "mpirad.stats.pool": (
            "POOL_LABELS",
            "POOLS",
        ),
        "mpirad.stats.protocol": (
            "CohortTooSmallError",
            "ProtocolConfig",
            "ProtocolResult",
            "check_cohort_size",
            "minimum_cohort_size",
            "repeat_splits",
            "run_protocol",
            "split_sizes",
            "transform_outcome",
        ),
        "mpirad.stats.stepwise": (
            "StepwiseResult",
            "stepwise_fit",
        ),
        "mpirad.stats.sweep": (
            "StepRecord",
            "StepwiseCycleError",
        ),
        "mpirad.stats.univariate": (
            "benjamini_hochberg",
            "spearman_candidates",
            "spearman_columns",
            "univariate_spearman",
        ),
    },
)
