"""Deterministic synthetic MPI cohorts for both studies, with ground truth.

- :func:`synthesize` writes a complete dataset (Study A tomograms with Labelme outlines,
  or Study B volumes with ROIs, clinical table and CAC) in the layouts of CONTRIBUTING.md.
- :mod:`mpirad.phantom.geometry`: the analytic LV, AHA 17 segments, territories, ROIs.
- :mod:`mpirad.phantom.perfusion`: defects, uptake and the imaging chain.
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.phantom.cohort": (
            "ensure_cohort",
            "synthesize",
        ),
    },
)
