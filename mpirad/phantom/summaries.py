"""Tables that compare a synthetic cohort with the papers' published numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.constants import AHA_SEGMENTS, CAC_FIGURE4_PAPER_COUNTS
from mpirad.stats.report import bin_counts

#: Study A paper, Table 1: patients by sex (103).
PAPER_A_SEX: dict[str, int] = {"M": 87, "F": 16}
#: Study A paper, Table 1: patients with ischemia in each AHA segment (410 in all).
PAPER_A_SEGMENT_INVOLVEMENT: dict[int, int] = {
    1: 14, 2: 21, 3: 13, 4: 17, 5: 15, 6: 9, 7: 29, 8: 17, 9: 14,
    10: 31, 11: 15, 12: 14, 13: 44, 14: 28, 15: 50, 16: 26, 17: 53,
}  # fmt: skip
#: Study A paper, Table 1: semi-quantitative segment scores 0-4 (1751 segments).
PAPER_A_SCORES: dict[int, int] = {0: 1343, 1: 106, 2: 185, 3: 79, 4: 38}
#: Study A paper, Table 1: images without / with ischemia (5008).
PAPER_A_IMAGES: dict[int, int] = {0: 2914, 1: 2094}
#: Study A paper: age range 47-86, median (P25, P75) 66 (58, 71) years.
PAPER_A_AGE = {"min": 47, "p25": 58, "median": 66, "p75": 71, "max": 86}

SEGMENT_COLUMNS = [f"seg{seg:02d}" for seg in range(1, 18)]


def _share(count: float, total: float) -> str:
    return f"{count:.0f} ({100.0 * count / total:.1f}%)" if total else f"{count:.0f}"


def study_a_table1(root: str | Path) -> pd.DataFrame:
    """The paper's Table 1 for a Study A cohort, beside the published numbers.

    Args:
        root: a Study A dataset (``patients.csv`` and ``<patient>/labels.csv``).

    Returns:
        Table with columns ``section``, ``item``, ``synthetic``, ``paper`` (``n (%)``).

    Raises:
        FileNotFoundError: ``patients.csv`` is missing.
    """
    root = Path(root)
    path = root / "patients.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no patients table (is {root} a Study A cohort?)")
    patients = pd.read_csv(path)
    missing = {"sex", "age", *SEGMENT_COLUMNS} - set(patients.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    labels = pd.concat(
        [pd.read_csv(root / str(pid) / "labels.csv") for pid in patients["patient_id"]],
        ignore_index=True,
    )
    rows = []
    n = len(patients)
    for sex, name in (("M", "Male"), ("F", "Female")):
        rows.append(("Sex", name, _share((patients["sex"] == sex).sum(), n),
                     _share(PAPER_A_SEX[sex], 103)))  # fmt: skip
    age = patients["age"]
    rows.append(("Age (years)", "median (P25, P75); range",
                 f"{age.median():.0f} ({age.quantile(0.25):.0f}, {age.quantile(0.75):.0f}); "
                 f"{age.min()}-{age.max()}", "66 (58, 71); 47-86"))  # fmt: skip
    scores = patients[SEGMENT_COLUMNS].to_numpy()
    involved = (scores > 0).sum(axis=0)
    paper_total = sum(PAPER_A_SEGMENT_INVOLVEMENT.values())
    for seg in range(1, 18):
        rows.append(("Presence of myocardial ischemia", AHA_SEGMENTS[seg].capitalize(),
                     _share(involved[seg - 1], involved.sum()),
                     _share(PAPER_A_SEGMENT_INVOLVEMENT[seg], paper_total)))  # fmt: skip
    counts = np.bincount(scores.ravel(), minlength=5)
    for score in range(5):
        rows.append(("Semiquantitative score", str(score), _share(counts[score], scores.size),
                     _share(PAPER_A_SCORES[score], sum(PAPER_A_SCORES.values()))))  # fmt: skip
    for label, name in ((0, "No myocardial ischemia"), (1, "Presence of myocardial ischemia")):
        rows.append(("LV tomograms", name, _share((labels["label"] == label).sum(), len(labels)),
                     _share(PAPER_A_IMAGES[label], 5008)))  # fmt: skip
    return pd.DataFrame(rows, columns=["section", "item", "synthetic", "paper"])


def cac_table(cac: pd.DataFrame) -> pd.DataFrame:
    """Figure 4 bins of a cohort's total CAC beside the paper's counts.

    Args:
        cac: table with ``cac_total``.

    Returns:
        Columns ``bin``, ``synthetic n``, ``synthetic %``, ``paper n``, ``paper %``.
    """
    counts = bin_counts(cac["cac_total"])
    paper_total = sum(CAC_FIGURE4_PAPER_COUNTS.values())
    return pd.DataFrame(
        {
            "bin": list(counts.index),
            "synthetic n": counts.to_numpy(),
            "synthetic %": (100.0 * counts.to_numpy() / max(len(cac), 1)).round(1),
            "paper n": [CAC_FIGURE4_PAPER_COUNTS[k] for k in counts.index],
            "paper %": [
                round(100.0 * CAC_FIGURE4_PAPER_COUNTS[k] / paper_total, 1) for k in counts.index
            ],
        }
    )


#: Target prevalences / means of the Study B clinical features (see
#: :mod:`mpirad.phantom.clinical` for the sources).
CLINICAL_TARGETS: dict[str, str] = {
    "sex": "50.3% male (paper: 232 of 461)",
    "race": "~38% Black (estimate)",
    "age": "~61 +/- 11",
    "smoking": "~15%",
    "diabetes": "~28%",
    "hypertension": "~65-70%",
    "hyperlipidemia": "~55%",
    "family_history": "~30%",
    "bmi": "~30 +/- 6",
    "lvef": "F 74 +/- 9, M 63 +/- 7",
}


#: The same targets as numbers (percent of patients) for plots.
CLINICAL_TARGET_PERCENT: dict[str, float] = {
    "smoking": 15.0,
    "diabetes": 28.0,
    "hypertension": 68.0,
    "hyperlipidemia": 55.0,
    "family_history": 30.0,
    "male": 50.3,
    "Black": 38.0,
}


def clinical_table(clinical: pd.DataFrame) -> pd.DataFrame:
    """One row per clinical feature: the cohort's value beside the target.

    Args:
        clinical: a Study B ``clinical.csv`` table.

    Returns:
        Columns ``feature``, ``synthetic``, ``target``.
    """
    rows = []
    for feature, target in CLINICAL_TARGETS.items():
        column = clinical[feature]
        if feature == "sex":
            value = f"{100 * (column == 'M').mean():.1f}% male"
        elif feature == "race":
            shares = column.value_counts(normalize=True)
            value = ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
        elif feature == "lvef":
            by_sex = clinical.groupby("sex")["lvef"]
            value = ", ".join(f"{s} {m:.0f} +/- {sd:.0f}" for s, m, sd in
                              zip(by_sex.mean().index, by_sex.mean(), by_sex.std(), strict=True))  # fmt: skip
        elif feature in ("age", "bmi"):
            value = f"{column.mean():.1f} +/- {column.std():.1f}"
        else:
            value = f"{100 * column.mean():.1f}%"
        rows.append((feature, value, target))
    return pd.DataFrame(rows, columns=["feature", "synthetic", "target"])


def roi_size_table(root: str | Path) -> pd.DataFrame:
    """ROI sizes of a Study B cohort (voxels of 4.8 mm): mean, SD, min and max per ROI.

    Args:
        root: a synthetic Study B dataset (reads ``truth/patients.csv``).

    Returns:
        One row per ROI of :data:`mpirad.constants.ROI_NAMES`.
    """
    from mpirad.constants import ROI_NAMES

    truth = pd.read_csv(Path(root) / "truth" / "patients.csv")
    rows = []
    for roi in ROI_NAMES:
        voxels = truth[f"voxels_{roi}"]
        rows.append({"ROI": roi, "mean voxels": voxels.mean(), "SD": voxels.std(),
                     "min": voxels.min(), "max": voxels.max(),
                     "mean volume (mL)": voxels.mean() * 4.8**3 / 1000})  # fmt: skip
    return pd.DataFrame(rows).round(1)


def planted_signal_table(root: str | Path, max_patients: int | None = None) -> pd.DataFrame:
    """How the planted texture signal and the BMI confounder show in a Study B cohort.

    For each ROI, the coefficient of variation (SD / mean) of its voxels is rank-correlated
    (Spearman) with log1p of the ROI's CAC outcome (:data:`mpirad.constants.ROI_CAC`) and
    with BMI.

    Args:
        root: a Study B dataset.
        max_patients: use only the first patients (None: all).

    Returns:
        Columns ``ROI``, ``outcome``, ``rho CV~CAC``, ``p CV~CAC``, ``rho CV~BMI``.
    """
    from scipy import stats

    from mpirad.constants import ROI_CAC, ROI_NAMES
    from mpirad.io.volumes import read_volume

    root = Path(root)
    cac = pd.read_csv(root / "cac.csv")
    clinical = pd.read_csv(root / "clinical.csv")
    if max_patients is not None:
        cac, clinical = cac.head(max_patients), clinical.head(max_patients)
    variation = {roi: [] for roi in ROI_NAMES}
    for pid in cac["patient_id"]:
        image = read_volume(root / pid / "image.nii.gz").array
        for roi in ROI_NAMES:
            values = image[read_volume(root / pid / "masks" / f"{roi}.nii.gz").array > 0]
            variation[roi].append(float(values.std() / values.mean()))
    rows = []
    for roi in ROI_NAMES:
        outcome = ROI_CAC[roi]
        with_cac = stats.spearmanr(variation[roi], np.log1p(cac[outcome]))
        with_bmi = stats.spearmanr(variation[roi], clinical["bmi"])
        rows.append({"ROI": roi, "outcome": outcome, "rho CV~CAC": with_cac.statistic,
                     "p CV~CAC": with_cac.pvalue, "rho CV~BMI": with_bmi.statistic})  # fmt: skip
    return pd.DataFrame(rows)
