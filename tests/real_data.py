"""Where the tests find real data that is not ours (never committed to the repository).

(Imported by the tests that read real files; holds no tests.)

Each folder is named by an environment variable; without it, the folder of the same data
in ``../shared/data/`` beside the checkout is used when present. When neither exists, the
test is skipped with a reason that says where to get the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"

#: PhysioNet "Myocardial Perfusion Scintigraphy Image Database" v1.0.0 (CC-BY-4.0).
PHYSIONET_MPS_ENV = "MPIRAD_PHYSIONET_MPS"
PHYSIONET_MPS_HELP = (
    "real MPS scans absent: set MPIRAD_PHYSIONET_MPS to a folder of the PhysioNet "
    "'Myocardial Perfusion Scintigraphy Image Database' v1.0.0 "
    "(https://physionet.org/content/myocardial-perfusion-spect/1.0.0/: <id>.dcm beside "
    "<id>_mask.nii.gz), or place it at ../shared/data/physionet_mps"
)


def physionet_mps_dir() -> Path:
    """The folder of the real PhysioNet MPS files, or skip the calling test with the reason."""
    named = os.environ.get(PHYSIONET_MPS_ENV)
    folder = Path(named) if named else SHARED_DATA / "physionet_mps"
    if not folder.is_dir():
        pytest.skip(PHYSIONET_MPS_HELP)
    return folder
