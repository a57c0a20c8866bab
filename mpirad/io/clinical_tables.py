"""Study B's cohort tables: a dataset's ``clinical.csv`` and ``cac.csv`` -> tidy tables.

:func:`read_cohort_tables` reads and checks both files of a Study B dataset (``volumes``
layout, :mod:`mpirad.io.layouts`), raising on the first problem;
:func:`cohort_table_problems` lists every problem without raising (``mpirad check``).
Patient ids are read as text; numeric columns as numbers. A dataset without ``cac.csv``
has no outcome (:func:`outcome_unavailable`): a stated condition, not an error, for every
step that does not need the outcome.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.constants import CLINICAL_CATEGORICAL, CLINICAL_FEATURES, ROI_CAC
from mpirad.io.layouts import VolumesLayout

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: How to fix a missing clinical or CAC value (part of the error message).
MISSING_VALUE_FIX = (
    "fill the value in, or remove the patient's row from clinical.csv and cac.csv (the "
    "paper analysed complete cases; report how many you removed)"
)


@dataclass(frozen=True)
class TableProblem:
    """One problem of ``clinical.csv`` or ``cac.csv``.

    Attributes:
        path: the file.
        message: what is wrong, naming the file, the column and (up to five) patients.
        patients: every patient the problem concerns (empty for file-level problems).
        column: the column concerned, or ``""``.
        what: the problem without file and patients (e.g. ``"a missing value"``).
    """

    path: Path
    message: str
    patients: tuple[str, ...] = ()
    column: str = ""
    what: str = ""


def _check_cohort_table(
    path: Path, needed: tuple[str, ...], numeric: tuple[str, ...], cac_columns: tuple[str, ...]
) -> tuple[pd.DataFrame | None, list[TableProblem]]:
    """Read one cohort table and list all its problems (none raised)."""
    name = path.name
    if not path.is_file():
        return None, [TableProblem(path, f"{path}: file not found (Study B layout needs {name})")]
    try:
        table = pd.read_csv(path, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return None, [TableProblem(path, f"{path}: not a readable CSV ({exc})")]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        return None, [TableProblem(path, f"{path}: missing columns {missing}")]
    problems = []
    ids = table["patient_id"]
    empty_id = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty_id.any():
        rows = [int(i) + 2 for i in table.index[empty_id]]
        problems.append(
            TableProblem(path, f"{path}: empty patient_id on line(s) {rows[:5]}", what="empty id")
        )
    dupes = sorted(ids[ids.duplicated() & ~empty_id].unique())
    if dupes:
        problems.append(
            TableProblem(
                path,
                f"{path}: duplicate patient_id {dupes[:5]}",
                tuple(dupes),
                "patient_id",
                "patient_id listed more than once",
            )
        )
    for column in needed[1:]:
        values = table[column]
        if column in numeric:
            as_number = pd.to_numeric(values, errors="coerce")
            bad = ~np.isfinite(as_number.to_numpy(dtype=float))
            what = "a missing, non-numeric or infinite value"
            if column in cac_columns:
                bad |= as_number.to_numpy(dtype=float) < 0
                what = "a missing, non-numeric, infinite or negative score"
            table[column] = as_number
        else:
            bad = values.isna().to_numpy()
            what = "a missing value"
        if bad.any():
            patients = tuple(str(p) for p in ids[bad])
            problems.append(
                TableProblem(
                    path,
                    f"{path}: column {column!r} has {what} for {int(bad.sum())} patient(s), "
                    f"e.g. {list(patients[:5])}; {MISSING_VALUE_FIX}",
                    patients,
                    column,
                    what,
                )
            )
    return table, problems


def cohort_table_problems(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[TableProblem]]:
    """Every problem of a Study B dataset's ``clinical.csv`` and ``cac.csv``, none raised.

    The non-raising form of :func:`read_cohort_tables` (the same checks), for
    ``mpirad check``.

    Returns:
        ``(clinical, cac, problems)``; a table is None when it could not be read at all.
    """
    layout = VolumesLayout.of(root)
    cac_columns = tuple(sorted(set(ROI_CAC.values())))
    numeric_clinical = tuple(c for c in CLINICAL_FEATURES if c not in CLINICAL_CATEGORICAL)
    clinical, clinical_problems = _check_cohort_table(
        layout.clinical_path, ("patient_id", *CLINICAL_FEATURES), numeric_clinical, cac_columns
    )
    cac, cac_problems = _check_cohort_table(
        layout.cac_path, ("patient_id", *cac_columns), cac_columns, cac_columns
    )
    return clinical, cac, clinical_problems + cac_problems


class OutcomeUnavailableError(ValueError):
    """The outcome analysis asked of a dataset without a CAC table; the message says why."""


def outcome_unavailable(root: str | os.PathLike[str] | Dataset | VolumesLayout) -> str | None:
    """Why the outcome analysis cannot run on a Study B dataset, or None when it can try.

    The outcome (CAC regressed on radiomic and clinical features) needs each patient's
    Agatston scores, ``cac.csv`` (or the manifest's ``files.cac``). A dataset without that
    file (e.g. the public PhysioNet MPS database, whose ``demographics.csv`` holds only
    sex, age and BMI) is a stated condition, not an error: everything that does not need
    the outcome runs on it (``mpirad check``, ``mpirad rois``, ``mpirad extract``, the
    radiomics chapter's features, blind-to-outcome funnel and polar maps); ``mpirad
    check`` counts it, and the outcome chapter prints this reason instead of its analysis.

    Returns:
        The reason (naming the missing file), or None when the CAC table exists (its
        content is checked by :func:`read_cohort_tables`).
    """
    layout = VolumesLayout.of(root)
    if layout.cac_path.is_file():
        return None
    try:
        where = layout.cac_path.relative_to(layout.root)
    except ValueError:
        where = layout.cac_path.name
    return (
        f"no CAC table ({where} not found in the dataset): the outcome analysis regresses each "
        "patient's coronary calcium (Agatston) score on the features, so it cannot run on "
        "this dataset; the features, the blind-to-outcome funnel and the polar maps do not "
        "need it and run (radiomics chapter)"
    )


def require_outcome(root: str | os.PathLike[str] | Dataset | VolumesLayout) -> None:
    """Stop an outcome analysis of a dataset without ``cac.csv``, saying why.

    Raises:
        OutcomeUnavailableError: :func:`outcome_unavailable`'s reason.
    """
    reason = outcome_unavailable(root)
    if reason is not None:
        raise OutcomeUnavailableError(reason)


def read_cohort_tables(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and check ``clinical.csv`` and ``cac.csv`` of a Study B dataset (``volumes`` layout).

    ``root`` is the dataset folder (tables at its top) or a manifest
    :class:`~mpirad.manifest.Dataset`, whose ``files.clinical``/``files.cac`` say where they are.

    Checks, each failure naming the file, the column and (up to five) patients:

    * both files exist and have the needed columns (:data:`CLINICAL_FEATURES`, the CAC
      columns of :data:`ROI_CAC`), and ``patient_id`` is present, non-empty and unique;
    * no clinical value is missing (the paper analysed complete cases; impute or drop
      patients before running mpirad, and say so: the message says how);
    * the numeric clinical features (``age``, ``bmi``, ``lvef``) and every CAC column are
      finite numbers, and CAC scores are not negative.

    ``mpirad check`` lists every such problem at once (:func:`cohort_table_problems`).

    Returns:
        ``(clinical, cac)`` with ``patient_id`` as string column.

    Raises:
        OutcomeUnavailableError: no ``cac.csv`` (:func:`outcome_unavailable` says why).
        ValueError: the first of the problems above.
    """
    require_outcome(root)
    clinical, cac, problems = cohort_table_problems(root)
    if problems:
        raise ValueError(problems[0].message)
    return clinical, cac
