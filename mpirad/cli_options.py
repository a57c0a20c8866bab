"""Options shared by the verbs of several subpackages (light: imported at ``--help``)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

#: ``--scheduler``: where a verb's parallel steps run (:func:`mpirad.parallel.resolve_scheduler`).
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler to run the parallel steps on: tcp://host:8786, 'local' "
        "(a LocalCluster of --n-jobs workers) or 'none' (joblib); default: "
        "MPIRAD_DASK_SCHEDULER, else joblib. Needs pip install 'mpirad[dask]'.",
    ),
]


def use_scheduler(scheduler: str | None) -> None:
    """Make ``--scheduler`` the choice of every parallel step of this command (it sets
    ``MPIRAD_DASK_SCHEDULER`` for the process); nothing when not given."""
    if scheduler is not None:
        os.environ["MPIRAD_DASK_SCHEDULER"] = scheduler
