"""Feature extraction engines behind :func:`mpirad.radiomics.extract_features`.

- ``mirp`` (:class:`~.mirp_engine.MirpEngine`): mirp 2.x, the IBSI reference
  implementation; all eleven families.
- ``pyradiomics`` (:class:`~.pyradiomics_engine.PyradiomicsEngine`): the
  pyradiomics-bhklab fork; the families it has, mapped to IBSI names.
- ``numpy`` (:class:`~.vectorised.engine.VectorisedEngine`): mpirad's vectorised NumPy
  implementation of the families Study B keeps, validated against mirp; about two orders
  of magnitude faster for cohort extraction.

Every engine implements :class:`~.base.FeatureEngine`: ``SUPPORTED_FAMILIES`` and
``compute(roi, settings, families)`` returning ``(family, name, aggregation, value)``
tuples.
"""

from __future__ import annotations

from mpirad.radiomics.engines.base import FeatureEngine
from mpirad.radiomics.engines.mirp_engine import MirpEngine
from mpirad.radiomics.engines.pyradiomics_engine import PyradiomicsEngine
from mpirad.radiomics.engines.vectorised.engine import VectorisedEngine

#: Engine name (``engine=`` argument, written into feature tables) -> engine.
ENGINES: dict[str, FeatureEngine] = {
    engine.name: engine for engine in (MirpEngine(), PyradiomicsEngine(), VectorisedEngine())
}

__all__ = ["ENGINES", "FeatureEngine"]
