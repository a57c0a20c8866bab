"""Study B radiomics: IBSI features (three engines), cohort extraction, selection.

Public API:

- :func:`extract_features` -- IBSI features of one ROI with ``mirp``, ``pyradiomics`` or
  ``numpy`` (see :mod:`mpirad.radiomics.engines`); :class:`ExtractionSettings`.
- :func:`extract_cohort` -- all patients x ROIs x bin numbers into one tidy parquet table
  (the volumes and masks are read by :mod:`mpirad.io.patient_volumes`).
- :func:`run_funnel` -- the paper's blind-to-outcome feature selection
  (:class:`FunnelResult`).
- :mod:`mpirad.radiomics.conformance` -- every engine on the IBSI digital phantom.
- :mod:`mpirad.radiomics.paper_b` -- the paper's published funnel counts and Table 2.
- :mod:`mpirad.radiomics.plots` -- the chapter's figures.
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.radiomics.cohort": (
            "COHORT_COLUMNS",
            "STUDY_B_FAMILIES",
            "CohortExtractionError",
            "CompleteCases",
            "VoxelSizeError",
            "complete_cases",
            "extract_cohort",
        ),
        "mpirad.radiomics.extract": (
            "FEATURE_COLUMNS",
            "extract_features",
            "extract_features_multi",
        ),
        "mpirad.radiomics.preprocess": (
            "ProcessedRoi",
            "preprocess_roi",
        ),
        "mpirad.radiomics.funnel": (
            "FunnelResult",
            "run_funnel",
        ),
        "mpirad.radiomics.settings": ("ExtractionSettings",),
        "mpirad.radiomics.strata": ("FunnelInputError",),
    },
)
