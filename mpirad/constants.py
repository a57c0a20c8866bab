"""Shared vocabulary of both studies: AHA segments, territories, ROIs, CAC categories.

These names are the contract between the synthetic cohort (:mod:`mpirad.phantom`), the
radiomics pipeline (:mod:`mpirad.radiomics`) and the statistics (:mod:`mpirad.stats`).
"""

from __future__ import annotations

#: AHA 17-segment model (Cerqueira et al., Circulation 2002): number -> name.
#: Basal and mid rings have six 60-degree segments, the apical ring four 90-degree
#: segments, and segment 17 is the apex cap.
AHA_SEGMENTS: dict[int, str] = {
    1: "basal anterior",
    2: "basal anteroseptal",
    3: "basal inferoseptal",
    4: "basal inferior",
    5: "basal inferolateral",
    6: "basal anterolateral",
    7: "mid anterior",
    8: "mid anteroseptal",
    9: "mid inferoseptal",
    10: "mid inferior",
    11: "mid inferolateral",
    12: "mid anterolateral",
    13: "apical anterior",
    14: "apical septal",
    15: "apical inferior",
    16: "apical lateral",
    17: "apex",
}

#: Coronary territory of each AHA segment (AHA 2002 standard assignment).
TERRITORY_SEGMENTS: dict[str, tuple[int, ...]] = {
    "LAD": (1, 2, 7, 8, 13, 14, 17),
    "RCA": (3, 4, 9, 10, 15),
    "LCX": (5, 6, 11, 12, 16),
}

SEGMENT_TERRITORY: dict[int, str] = {
    seg: terr for terr, segs in TERRITORY_SEGMENTS.items() for seg in segs
}

#: The seven Study B regions of interest, in the paper's order of Table 3 columns.
#: ``*MIM`` are vascular territories drawn with gaps between them (the paper's MIM
#: workflow); ``*17`` are groupings of the AHA 17 segments.
ROI_NAMES: tuple[str, ...] = (
    "myocardium",
    "LADMIM",
    "LCXMIM",
    "RCAMIM",
    "LAD17",
    "LCX17",
    "RCA17",
)

#: Which per-artery CAC column is the outcome of each ROI ("total" = sum of all arteries,
#: LM included). The left main feeds LAD and LCX; following the paper, the LAD and LCX
#: ROIs use their own artery's score only.
ROI_CAC: dict[str, str] = {
    "myocardium": "cac_total",
    "LADMIM": "cac_lad",
    "LCXMIM": "cac_lcx",
    "RCAMIM": "cac_rca",
    "LAD17": "cac_lad",
    "LCX17": "cac_lcx",
    "RCA17": "cac_rca",
}

#: The paper's eight fixed bin numbers.
BIN_NUMBERS: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)

#: Study A's split units: no patient on both sides of a split, or images drawn freely.
SPLIT_UNITS: tuple[str, ...] = ("patient", "image")

#: Berman et al. (JACC 2004) CAC categories used in the paper's Figure 4:
#: label -> (lower exclusive bound, upper inclusive bound); category 0 is CAC == 0.
BERMAN_CATEGORIES: dict[str, tuple[float, float]] = {
    "0": (-float("inf"), 0.0),
    "1-10": (0.0, 10.0),
    "11-100": (10.0, 100.0),
    "101-400": (100.0, 400.0),
    ">400": (400.0, float("inf")),
}

#: The six bins of the paper's Figure 4 counts (178/32/77/80/38/23 of 428): Berman's five
#: categories with >400 split at 1000.
CAC_FIGURE4_BINS: dict[str, tuple[float, float]] = {
    "0": (-float("inf"), 0.0),
    "1-10": (0.0, 10.0),
    "11-100": (10.0, 100.0),
    "101-400": (100.0, 400.0),
    "401-1000": (400.0, 1000.0),
    ">1000": (1000.0, float("inf")),
}
#: The paper's published counts in those bins (428 patients).
CAC_FIGURE4_PAPER_COUNTS: dict[str, int] = {
    "0": 178,
    "1-10": 32,
    "11-100": 77,
    "101-400": 80,
    "401-1000": 38,
    ">1000": 23,
}

#: The paper's ten clinical features (column names in a Study B ``clinical.csv``).
CLINICAL_FEATURES: tuple[str, ...] = (
    "sex",
    "race",
    "age",
    "smoking",
    "diabetes",
    "hypertension",
    "hyperlipidemia",
    "family_history",
    "bmi",
    "lvef",
)
#: Clinical features treated as categorical by the regression.
CLINICAL_CATEGORICAL: tuple[str, ...] = (
    "sex",
    "race",
    "smoking",
    "diabetes",
    "hypertension",
    "hyperlipidemia",
    "family_history",
)


def berman_category(cac: float) -> str:
    """Berman category label of a CAC (Agatston) score.

    Args:
        cac: a non-negative Agatston score.

    Returns:
        One of ``"0"``, ``"1-10"``, ``"11-100"``, ``"101-400"``, ``">400"``.

    Raises:
        ValueError: for a negative or NaN score.
    """
    if not cac >= 0:  # also catches NaN
        raise ValueError(f"CAC score must be a non-negative number, got {cac!r}")
    for label, (low, high) in BERMAN_CATEGORIES.items():
        if low < cac <= high:
            return label
    raise AssertionError("unreachable")  # pragma: no cover
