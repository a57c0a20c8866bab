"""Feature extraction engines behind :func:`mpirad.radiomics.extract_features`.

- ``mirp``: mirp 2.x, the IBSI reference implementation; all eleven families.
- ``pyradiomics``: the pyradiomics-bhklab fork; the families it has, mapped to IBSI names.
- ``numpy``: mpirad's vectorised implementation of the families Study B keeps, validated
  against mirp; about two orders of magnitude faster for cohort extraction.

Each engine module exposes ``SUPPORTED_FAMILIES`` and a ``compute(image, mask, spacing,
settings, families)`` returning ``(family, name, aggregation, value)`` tuples.
"""

from __future__ import annotations

from mpirad.radiomics.engines import mirp_engine, numpy_engine, pyradiomics_engine

ENGINES = {
    "mirp": mirp_engine,
    "pyradiomics": pyradiomics_engine,
    "numpy": numpy_engine,
}

__all__ = ["ENGINES", "mirp_engine", "numpy_engine", "pyradiomics_engine"]
