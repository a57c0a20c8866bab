"""Where the tests find real data that is not ours (never committed to the repository).

(Imported by the tests that read real files; holds no tests.)

The PhysioNet MPS folder is located by :func:`mpirad.io.physionet.physionet_mps_dir` (the
folder named by ``$MPIRAD_PHYSIONET_MPS``), with ``../shared/data/physionet_mps`` beside the
checkout as the fallback. When there is none, the test is skipped with a reason that says
where to get the files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mpirad.io.physionet import ENV as PHYSIONET_MPS_ENV
from mpirad.io.physionet import HOW_TO_GET
from mpirad.io.physionet import physionet_mps_dir as _locate

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"

__all__ = ["PHYSIONET_MPS_ENV", "PHYSIONET_MPS_HELP", "SHARED_DATA", "physionet_mps_dir"]

#: PhysioNet "Myocardial Perfusion Scintigraphy Image Database" v1.0.0 (CC-BY-4.0).
PHYSIONET_MPS_HELP = f"real MPS scans absent: {HOW_TO_GET} (or ../shared/data/physionet_mps)"


def physionet_mps_dir() -> Path:
    """The folder of the real PhysioNet MPS files, or skip the calling test with the reason."""
    folder = _locate(SHARED_DATA / "physionet_mps")
    if folder is None:
        pytest.skip(PHYSIONET_MPS_HELP)
    return folder
