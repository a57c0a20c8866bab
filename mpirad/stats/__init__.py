"""Study B statistics: stepwise regression, the repeated-split protocol, Spearman, Fisher.

- :func:`stepwise_fit` MATLAB ``stepwiselm`` semantics, closed-form sweep updates
  (:mod:`~mpirad.stats.design` encodes the tables, :mod:`~mpirad.stats.sweep` searches)
- :func:`run_protocol` the paper's 50 x 20 train/dev/test protocol over ROI x pool
  (:mod:`~mpirad.stats.pool` runs one ROI x pool)
- :func:`univariate_spearman` Spearman + Benjamini-Hochberg per ROI
- :func:`fisher_combine` Fisher's method
"""

from __future__ import annotations

from mpirad.stats.design import UnknownLevelError
from mpirad.stats.fisher import FisherResult, fisher_combine
from mpirad.stats.pool import POOL_LABELS, POOLS
from mpirad.stats.protocol import (
    CohortTooSmallError,
    ProtocolConfig,
    ProtocolResult,
    check_cohort_size,
    minimum_cohort_size,
    repeat_splits,
    run_protocol,
    split_sizes,
    transform_outcome,
)
from mpirad.stats.stepwise import StepwiseResult, stepwise_fit
from mpirad.stats.sweep import StepRecord, StepwiseCycleError
from mpirad.stats.univariate import (
    benjamini_hochberg,
    spearman_candidates,
    spearman_columns,
    univariate_spearman,
)

__all__ = [
    "POOLS",
    "POOL_LABELS",
    "CohortTooSmallError",
    "FisherResult",
    "ProtocolConfig",
    "ProtocolResult",
    "StepRecord",
    "StepwiseCycleError",
    "StepwiseResult",
    "UnknownLevelError",
    "benjamini_hochberg",
    "check_cohort_size",
    "fisher_combine",
    "minimum_cohort_size",
    "repeat_splits",
    "run_protocol",
    "spearman_candidates",
    "spearman_columns",
    "split_sizes",
    "stepwise_fit",
    "transform_outcome",
    "univariate_spearman",
]
