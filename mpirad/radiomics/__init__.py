"""Study B radiomics: ROIs, IBSI features (three engines), cohort extraction, selection.

Public API:

- :func:`extract_features` -- IBSI features of one ROI with ``mirp``, ``pyradiomics`` or
  ``numpy`` (see :mod:`mpirad.radiomics.engines`); :class:`ExtractionSettings`.
- :func:`load_patient_rois` -- a patient's image and seven ROI masks, validated.
- :func:`extract_cohort` -- all patients x ROIs x bin numbers into one tidy parquet table.
- :func:`run_funnel` -- the paper's blind-to-outcome feature selection
  (:class:`FunnelResult`).
- :mod:`mpirad.radiomics.conformance` -- every engine on the IBSI digital phantom.
- :mod:`mpirad.radiomics.paper_b` -- the paper's published funnel counts and Table 2.
- :mod:`mpirad.radiomics.plots` -- the chapter's figures.
"""

from __future__ import annotations

from mpirad.radiomics.cohort import (
    COHORT_COLUMNS,
    STUDY_B_FAMILIES,
    CohortExtractionError,
    CompleteCases,
    complete_cases,
    extract_cohort,
)
from mpirad.radiomics.extract import FEATURE_COLUMNS, extract_features, extract_features_multi
from mpirad.radiomics.funnel import FunnelInputError, FunnelResult, run_funnel
from mpirad.radiomics.rois import PatientRois, RoiError, list_patients, load_patient_rois
from mpirad.radiomics.settings import ExtractionSettings

__all__ = [
    "COHORT_COLUMNS",
    "FEATURE_COLUMNS",
    "STUDY_B_FAMILIES",
    "CohortExtractionError",
    "CompleteCases",
    "ExtractionSettings",
    "FunnelInputError",
    "FunnelResult",
    "PatientRois",
    "RoiError",
    "complete_cases",
    "extract_cohort",
    "extract_features",
    "extract_features_multi",
    "list_patients",
    "load_patient_rois",
    "run_funnel",
]
