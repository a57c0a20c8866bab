"""Study B radiomics: ROIs, IBSI features (three engines), cohort extraction, selection.

Public API:

- :func:`extract_features` -- IBSI features of one ROI with ``mirp``, ``pyradiomics`` or
  ``numpy`` (see :mod:`mpirad.radiomics.engines`).
- :class:`ExtractionSettings` -- discretisation and texture parameters.
- :func:`load_patient_rois` -- a patient's image and seven ROI masks, validated.
- :func:`extract_cohort` -- all patients x ROIs x bin numbers into one tidy parquet table.
- :func:`run_funnel` -- the paper's blind-to-outcome feature selection.
- :mod:`mpirad.radiomics.conformance` -- every engine on the IBSI digital phantom.
"""

from __future__ import annotations

from mpirad.radiomics.extract import FEATURE_COLUMNS, extract_features, extract_features_multi
from mpirad.radiomics.settings import ExtractionSettings

__all__ = [
    "FEATURE_COLUMNS",
    "ExtractionSettings",
    "extract_features",
    "extract_features_multi",
]
