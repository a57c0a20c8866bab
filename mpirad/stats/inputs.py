"""Inputs of the Study B statistics: wide feature tables per ROI and the cohort tables."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.constants import CLINICAL_CATEGORICAL, CLINICAL_FEATURES, ROI_CAC
from mpirad.io.layouts import VolumesLayout

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

_TIDY_COLUMNS = ("patient_id", "roi", "n_bins", "family", "name", "aggregation", "value")


def wide_features(
    features: pd.DataFrame,
    *,
    n_bins: int | None = None,
    selected: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Per-ROI wide feature tables (patients x features) for the statistics.

    Accepts either the radiomics cohort table (tidy: ``patient_id, roi, n_bins, family,
    name, ibsi_code, aggregation, value``; reshaped with
    :func:`mpirad.radiomics.funnel.feature_matrices`, columns named by feature key) or an
    already wide table with ``patient_id``, ``roi`` and one numeric column per feature.

    Args:
        features: the table.
        n_bins: bin number to use (tidy tables with several bin numbers need it).
        selected: keep these feature columns, in this order (e.g. the funnel's
            ``FunnelResult.selected``); default all.

    Returns:
        ROI -> DataFrame indexed by ``patient_id`` (sorted).

    Raises:
        ValueError: missing columns, several bin numbers and no ``n_bins``, unknown
            selected features (named), duplicate patient x ROI rows.
    """
    if all(c in features.columns for c in _TIDY_COLUMNS):
        from mpirad.radiomics.funnel import feature_matrices

        available = sorted(int(b) for b in features["n_bins"].unique())
        if n_bins is None:
            if len(available) != 1:
                raise ValueError(f"the feature table has bin numbers {available}; pass n_bins")
            n_bins = available[0]
        if int(n_bins) not in available:
            raise ValueError(f"no features at n_bins={n_bins}; the table has {available}")
        data = feature_matrices(features[features["n_bins"] == n_bins])
        tables = {roi: matrix for (roi, _), matrix in data.matrices.items()}
    else:
        if "patient_id" not in features.columns or "roi" not in features.columns:
            raise ValueError(
                "feature table is neither tidy (patient_id, roi, n_bins, family, name, "
                "aggregation, value) nor wide (patient_id, roi, feature columns)"
            )
        table = features.copy()
        if "n_bins" in table.columns:
            if n_bins is not None:
                table = table[table["n_bins"] == n_bins]
            table = table.drop(columns="n_bins")
        table["patient_id"] = table["patient_id"].astype(str)
        duplicated = table.duplicated(["patient_id", "roi"])
        if duplicated.any():
            first = table[duplicated].iloc[0]
            raise ValueError(f"duplicate rows for patient {first.patient_id}, ROI {first.roi}")
        tables = {
            str(roi): group.drop(columns="roi").set_index("patient_id").sort_index()
            for roi, group in table.groupby("roi", sort=True)
        }
    if selected is not None:
        selected = list(selected)
        for roi, table in tables.items():
            missing = [f for f in selected if f not in table.columns]
            if missing:
                raise ValueError(f"ROI {roi!r}: selected features not in the table: {missing[:5]}")
            tables[roi] = table[selected]
    return tables


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
        ValueError: the first of the problems above.
    """
    clinical, cac, problems = cohort_table_problems(root)
    if problems:
        raise ValueError(problems[0].message)
    return clinical, cac


@dataclass(frozen=True)
class CohortIntersection:
    """Which patients the outcome analysis uses, and how many were left out and why.

    Patient ids are pseudonymous site ids but stay out of the book: this holds counts
    (and :attr:`analysed`, the ids used, for the site's own checks).

    Attributes:
        analysed: patients with complete features, a clinical row and a CAC row (sorted).
        left_out: reason -> number of patients, only reasons that occurred, e.g.
            ``{"without features (extraction failed)": 2}``.
    """

    analysed: tuple[str, ...]
    left_out: dict[str, int]

    def lines(self) -> list[str]:
        """One line per reason with its count, then the number analysed."""
        lines = [
            f"{n} patient{'s' if n != 1 else ''} {reason} left out"
            for reason, n in self.left_out.items()
        ]
        return [*lines, f"{len(self.analysed)} patients analysed"]

    def table(self) -> pd.DataFrame:
        """Counts as a table (``reason``, ``patients``), the analysed patients last."""
        rows = [*self.left_out.items(), ("analysed", len(self.analysed))]
        return pd.DataFrame(rows, columns=["reason", "patients"])


def intersect_cohort(
    feature_patients: Sequence[str],
    clinical: pd.DataFrame,
    cac: pd.DataFrame,
    *,
    image_patients: Sequence[str] | None = None,
    failed_patients: Sequence[str] = (),
) -> CohortIntersection:
    """Intersect the patients of the features, ``clinical.csv``, ``cac.csv`` and images.

    Args:
        feature_patients: patients with complete features (every ROI, bin number).
        clinical: ``clinical.csv`` (``patient_id`` column).
        cac: ``cac.csv`` (``patient_id`` column).
        image_patients: patients with an image folder (None when the volumes are not at
            hand, e.g. a wide feature table computed elsewhere).
        failed_patients: patients whose extraction failed for some ROI (left out of the
            features by :func:`mpirad.radiomics.cohort.complete_cases`).

    Returns:
        :class:`CohortIntersection`.
    """
    features = set(map(str, feature_patients))
    clinical_ids = set(clinical["patient_id"].astype(str))
    cac_ids = set(cac["patient_id"].astype(str))
    failed = set(map(str, failed_patients))
    imaged = set(map(str, image_patients)) if image_patients is not None else None
    with_tables = clinical_ids & cac_ids
    left_out: dict[str, int] = {}

    def count(reason: str, patients: set[str]) -> None:
        if patients:
            left_out[reason] = len(patients)

    count("without features (extraction failed)", (failed & with_tables) - features)
    if imaged is not None:
        count(
            "with an image but without features (not extracted)",
            (imaged & with_tables) - features - failed,
        )
    count("with features but no clinical.csv row", features - clinical_ids)
    count("with features but no cac.csv row", (features & clinical_ids) - cac_ids)
    known = features | failed | (imaged if imaged is not None else set())
    count("with clinical.csv/cac.csv rows but no image or features", with_tables - known)
    count(
        "with a row in only one of clinical.csv and cac.csv",
        (clinical_ids ^ cac_ids) - features,
    )
    return CohortIntersection(tuple(sorted(features & with_tables)), left_out)


@dataclass
class OutcomeInputs:
    """Everything the outcome chapter needs.

    Attributes:
        radiomic: ROI -> (patients x selected features), indexed by ``patient_id``.
        clinical: the dataset's ``clinical.csv`` (analysed patients only).
        cac: the dataset's ``cac.csv`` (analysed patients only).
        selected: the feature columns used.
        n_bins: the bin number used (None for a wide table without one).
        selection_source: where ``selected`` came from ("file ...", "funnel" or "all").
        cohort: which patients are analysed and how many were left out, by reason.
    """

    radiomic: dict[str, pd.DataFrame]
    clinical: pd.DataFrame
    cac: pd.DataFrame
    selected: list[str]
    n_bins: int | None
    selection_source: str
    cohort: CohortIntersection | None = None


def _read_selection_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("selected", data)
        if not isinstance(data, list):
            raise ValueError(
                f"{path}: expected a JSON list of feature names or {{'selected': [...]}}"
            )
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def outcome_inputs(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
    features_path: str | Path,
    *,
    n_bins: int | None = None,
    selection_path: str | Path | None = None,
    extract_if_missing: bool = True,
    n_jobs: int = 2,
    config: object | None = None,
) -> OutcomeInputs:
    """Load (or make) the inputs of the outcome analysis of a Study B dataset.

    Args:
        root: the dataset folder (``clinical.csv``, ``cac.csv``, volumes) or manifest
            :class:`~mpirad.manifest.Dataset` (its file mapping is used).
        features_path: a feature table, tidy (:func:`mpirad.radiomics.extract_cohort`) or
            wide (``patient_id``, ``roi``, feature columns); parquet or CSV.
        n_bins: bin number to use; default the funnel's choice (tidy table) or the only one.
        selection_path: optional file listing the features to use (one per line, or JSON),
            or a folder written by :meth:`mpirad.radiomics.funnel.FunnelResult.save`
            (``selected.txt`` and ``n_bins.txt``). Default: that folder if it exists as
            ``selection/`` next to the feature table, else run the blind-to-outcome funnel
            (:func:`mpirad.radiomics.run_funnel`) on a tidy table, or use every column of a
            wide one.
        extract_if_missing: if ``features_path`` does not exist, extract it from the
            dataset's volumes (numpy engine, the paper's eight bin numbers) and write it there.
        n_jobs: workers for that extraction.
        config: the :class:`mpirad.stats.ProtocolConfig` the protocol will run with (its
            split fractions set the minimum cohort size; default the paper's).

    Patients whose extraction failed for some ROI, clinical/CAC rows without images or
    features, and features without clinical/CAC rows are left out and counted
    (:attr:`OutcomeInputs.cohort`), not refused; the funnel runs on the complete cases.

    Returns:
        :class:`OutcomeInputs`.

    Raises:
        CohortTooSmallError: fewer analysable patients than
            :func:`mpirad.stats.minimum_cohort_size` (the message states the minimum).
        ValueError: missing files (named) or unusable tables.
    """
    from mpirad.radiomics.cohort import complete_cases
    from mpirad.stats.protocol import check_cohort_size

    root, features_path = VolumesLayout.of(root), Path(features_path)
    clinical, cac = read_cohort_tables(root)
    if not features_path.is_file():
        if not extract_if_missing:
            raise ValueError(f"{features_path}: feature table not found (run `mpirad extract`)")
        from mpirad.radiomics.cohort import extract_cohort

        extract_cohort(root, features_path, engine="numpy", n_jobs=n_jobs, progress=False)
    if features_path.suffix == ".parquet":
        table = pd.read_parquet(features_path)
    else:
        table = pd.read_csv(features_path, dtype={"patient_id": str})
    tidy = all(c in table.columns for c in _TIDY_COLUMNS)
    failed: tuple[str, ...] = ()
    if tidy:
        complete = complete_cases(table)
        table, failed = complete.features, complete.left_out
    saved = features_path.parent / "selection"
    if not selection_path and (saved / "selected.txt").is_file():
        selection_path = saved  # written by FunnelResult.save (the radiomics chapter)
    if selection_path and Path(selection_path).is_dir():
        folder = Path(selection_path)
        selected, source = _read_selection_file(folder / "selected.txt"), f"file ({folder})"
        if n_bins is None and (folder / "n_bins.txt").is_file():
            n_bins = int((folder / "n_bins.txt").read_text(encoding="utf-8").strip())
    elif selection_path:
        selected, source = _read_selection_file(Path(selection_path)), "file"
    elif tidy:
        from mpirad.radiomics.funnel import run_funnel

        funnel = run_funnel(table)
        selected, source = list(funnel.selected), "funnel"
        n_bins = funnel.n_bins if n_bins is None else n_bins
    else:
        selected, source = None, "all"
    radiomic = wide_features(table, n_bins=n_bins, selected=selected)
    if selected is None:
        selected = list(next(iter(radiomic.values())).columns)
    cohort = intersect_cohort(
        sorted(set.intersection(*(set(t.index) for t in radiomic.values()))),
        clinical,
        cac,
        image_patients=_image_patients(root),
        failed_patients=failed,
    )
    keep = list(cohort.analysed)
    radiomic = {roi: t.loc[t.index.isin(keep)] for roi, t in radiomic.items()}
    clinical = _rows_of(clinical, keep)
    cac = _rows_of(cac, keep)
    check_cohort_size(len(keep), config, what=f"{root.name}: the analysable cohort")
    return OutcomeInputs(radiomic, clinical, cac, selected, n_bins, source, cohort)


def _rows_of(table: pd.DataFrame, patients: list[str]) -> pd.DataFrame:
    ids = table["patient_id"].astype(str)
    return table[ids.isin(patients).to_numpy()].reset_index(drop=True)


def _image_patients(root: VolumesLayout) -> list[str] | None:
    """Patients with an image volume, or None when the dataset holds no volumes."""
    from mpirad.radiomics.rois import RoiError, list_patients

    try:
        return list_patients(root)
    except RoiError:
        return None
