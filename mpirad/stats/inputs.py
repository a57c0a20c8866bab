"""Inputs of the Study B statistics: wide feature tables per ROI, the analysed cohort.

The dataset's ``clinical.csv`` and ``cac.csv`` are read by :mod:`mpirad.io.clinical_tables`;
this module assembles them with the feature table into :class:`OutcomeInputs`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mpirad.io.clinical_tables import read_cohort_tables
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
    :func:`mpirad.radiomics.strata.feature_matrices`, columns named by feature key) or an
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
        from mpirad.radiomics.strata import feature_matrices

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
    excluded: Mapping[str, str] | None = None,
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
        excluded: patient id -> reason, for the patients the manifest leaves out on
            purpose (``exclude``); counted first, one line per reason, and in no other
            count (those with no table row, image or features are not counted).

    Returns:
        :class:`CohortIntersection`.
    """
    excluded = {str(k): v for k, v in (excluded or {}).items()}
    drop = set(excluded)
    features = set(map(str, feature_patients)) - drop
    clinical_ids = set(clinical["patient_id"].astype(str))
    cac_ids = set(cac["patient_id"].astype(str))
    failed = set(map(str, failed_patients)) - drop
    imaged = set(map(str, image_patients)) - drop if image_patients is not None else None
    left_out: dict[str, int] = {}

    def count(reason: str, patients: set[str]) -> None:
        if patients:
            left_out[reason] = len(patients)

    present = clinical_ids | cac_ids | set(map(str, feature_patients))
    present |= set(map(str, image_patients or ())) | set(map(str, failed_patients))
    for reason in sorted(set(excluded.values())):
        count(
            f"excluded in the manifest ({reason})",
            {p for p, r in excluded.items() if r == reason and p in present},
        )
    clinical_ids -= drop
    cac_ids -= drop
    with_tables = clinical_ids & cac_ids

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
    n_jobs: int | None = None,
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
        n_jobs: workers for that extraction (default: :func:`mpirad.parallel.resolve_n_jobs`).
        config: the :class:`mpirad.stats.ProtocolConfig` the protocol will run with (its
            split fractions set the minimum cohort size; default the paper's).

    Patients the manifest excludes (``exclude``), patients whose extraction failed for some
    ROI, clinical/CAC rows without images or features, and features without clinical/CAC
    rows are left out and counted
    (:attr:`OutcomeInputs.cohort`), not refused; the funnel runs on the complete cases.

    Returns:
        :class:`OutcomeInputs`.

    Raises:
        CohortTooSmallError: fewer analysable patients than
            :func:`mpirad.stats.minimum_cohort_size` (the message states the minimum).
        ValueError: missing files (named) or unusable tables.
    """
    from mpirad.stats.protocol import check_cohort_size

    root, features_path = VolumesLayout.of(root), Path(features_path)
    clinical, cac = read_cohort_tables(root)
    table, failed = _read_features(root, features_path, extract_if_missing, n_jobs)
    tidy = all(c in table.columns for c in _TIDY_COLUMNS)
    selected, source, n_bins = _selection(table, tidy, features_path, selection_path, n_bins)
    radiomic = wide_features(table, n_bins=n_bins, selected=selected)
    if selected is None:
        selected = list(next(iter(radiomic.values())).columns)
    cohort = intersect_cohort(
        sorted(set.intersection(*(set(t.index) for t in radiomic.values()))),
        clinical,
        cac,
        image_patients=_image_patients(root),
        failed_patients=failed,
        excluded=root.excluded(),
    )
    keep = list(cohort.analysed)
    radiomic = {roi: t.loc[t.index.isin(keep)] for roi, t in radiomic.items()}
    clinical = _rows_of(clinical, keep)
    cac = _rows_of(cac, keep)
    check_cohort_size(len(keep), config, what=f"{root.name}: the analysable cohort")
    return OutcomeInputs(radiomic, clinical, cac, selected, n_bins, source, cohort)


def _read_features(
    root: VolumesLayout, features_path: Path, extract_if_missing: bool, n_jobs: int | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The feature table (extracted first if missing and allowed) and the patients left
    out of a tidy one because their extraction failed for some ROI."""
    from mpirad.radiomics.cohort import complete_cases

    if not features_path.is_file():
        if not extract_if_missing:
            raise ValueError(f"{features_path}: feature table not found (run `mpirad extract`)")
        from mpirad.radiomics.cohort import extract_cohort

        extract_cohort(root, features_path, engine="numpy", n_jobs=n_jobs, progress=False)
    if features_path.suffix == ".parquet":
        table = pd.read_parquet(features_path)
    else:
        table = pd.read_csv(features_path, dtype={"patient_id": str})
    if not all(c in table.columns for c in _TIDY_COLUMNS):
        return table, ()
    complete = complete_cases(table)
    return complete.features, complete.left_out


def _selection(
    table: pd.DataFrame,
    tidy: bool,
    features_path: Path,
    selection_path: str | Path | None,
    n_bins: int | None,
) -> tuple[list[str] | None, str, int | None]:
    """The features to use (None: all), where they came from, and the bin number
    (see :func:`outcome_inputs`)."""
    saved = features_path.parent / "selection"
    if not selection_path and (saved / "selected.txt").is_file():
        selection_path = saved  # written by FunnelResult.save (the radiomics chapter)
    if selection_path and Path(selection_path).is_dir():
        from mpirad.pipeline.paths import shown_path

        folder = Path(selection_path)
        selected, source = (
            _read_selection_file(folder / "selected.txt"),
            f"file ({shown_path(folder)})",
        )
        if n_bins is None and (folder / "n_bins.txt").is_file():
            n_bins = int((folder / "n_bins.txt").read_text(encoding="utf-8").strip())
        return selected, source, n_bins
    if selection_path:
        return _read_selection_file(Path(selection_path)), "file", n_bins
    if tidy:
        from mpirad.radiomics.funnel import run_funnel

        funnel = run_funnel(table)
        return list(funnel.selected), "funnel", funnel.n_bins if n_bins is None else n_bins
    return None, "all", n_bins


def _rows_of(table: pd.DataFrame, patients: list[str]) -> pd.DataFrame:
    ids = table["patient_id"].astype(str)
    return table[ids.isin(patients).to_numpy()].reset_index(drop=True)


def _image_patients(root: VolumesLayout) -> list[str] | None:
    """Patients with an image volume, or None when the dataset holds no volumes."""
    from mpirad.io.patient_volumes import RoiError, list_patients

    try:
        return list_patients(root)
    except RoiError:
        return None
