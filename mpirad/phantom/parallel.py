"""Patient-parallel simulation shared by the Study A and Study B generators."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from joblib import Parallel, delayed
from tqdm import tqdm


def n_jobs() -> int:
    """Worker processes for patient simulation: ``MPIRAD_N_JOBS`` or min(2, CPUs)."""
    value = os.environ.get("MPIRAD_N_JOBS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"MPIRAD_N_JOBS must be an integer, got {value!r}") from None
    return max(1, min(2, os.cpu_count() or 1))


def run_patients(
    worker: Callable[..., Any], args: Iterable[tuple], n_patients: int, desc: str
) -> list[Any]:
    """Run ``worker(*a)`` for every patient, in parallel when worth it, results in order."""
    args = list(args)
    jobs = n_jobs() if n_patients >= 16 else 1
    if jobs == 1:
        return [worker(*a) for a in tqdm(args, desc=desc, disable=None, leave=False)]
    return list(
        Parallel(n_jobs=jobs, batch_size=4)(
            delayed(worker)(*a) for a in tqdm(args, desc=desc, disable=None, leave=False)
        )
    )
