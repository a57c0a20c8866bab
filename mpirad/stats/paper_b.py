"""Published outcome-prediction numbers of Study B (Ashrafinia et al., medRxiv 2021,
doi:10.1101/2021.01.29.21250803; seed ``001_493d53e0121dab22``), as data for the book.

Sources: Table 3 (Fisher's X per ROI and feature pool), the abstract (median |r| and p of
the 50 test-set fits for myocardium and the three vascular territories), section 3.3.1
(univariate analysis), section 3.3.2 (frequent terms) and section 4 / Figure 10 (case
study).
"""

from __future__ import annotations

import pandas as pd

#: The paper's Table 3 column order, as printed, mapped to mpirad ROI names.
PAPER_TABLE3_COLUMNS: dict[str, str] = {
    "RCAMIM": "RCAMIM",
    "LCXMIM": "LCXMIM",
    "LADMIM": "LADMIM",
    "Myocardium": "myocardium",
    "LAD17": "LAD17",
    "LCX17": "LCX17",
    "RCA17": "RCA17",
}

#: Table 3: Fisher's X = -2 sum(log p) over 50 test sets, per pool and ROI (printed order).
PAPER_TABLE3: dict[str, tuple[float, ...]] = {
    "Radiomics": (95.87, 88.02, 115.02, 111.93, 139.25, 53.8, 53.28),
    "Clinical": (84.12, 153.14, 253.13, 294.43, 253.13, 153.14, 84.12),
    "Combined": (174.53, 194.73, 348.97, 341.39, 326.97, 189.2, 141.6),
}

#: The chi-square critical value at 0.01 for 2 x 50 = 100 degrees of freedom (Table 3).
PAPER_CRITICAL = 135.81
#: Outer repeats (independent test sets) of the paper's protocol.
PAPER_N_REPEATS = 50

#: Abstract: median |Pearson r| and median p of the 50 test fits, pools (radiomics,
#: clinical, combined). The abstract names four ROIs (myocardium, LAD, LCX, RCA); which
#: vascular segmentation (MIM or 17-segment) it reports is not stated.
PAPER_ABSTRACT_MEDIANS: dict[str, dict[str, tuple[float, float, float]]] = {
    "median_abs_r": {
        "Myocardium": (0.15, 0.38, 0.41),
        "LAD": (0.24, 0.35, 0.41),
        "LCX": (0.07, 0.24, 0.28),
        "RCA": (0.06, 0.16, 0.24),
    },
    "median_p": {
        "Myocardium": (0.1, 0.001, 0.0006),
        "LAD": (0.05, 0.004, 0.0007),
        "LCX": (0.4, 0.06, 0.02),
        "RCA": (0.4, 0.2, 0.05),
    },
}

#: The abstract's ROI labels mapped to the mpirad ROIs the book compares them with (the
#: vascular territories read as the MIM ones).
PAPER_ABSTRACT_ROIS: dict[str, str] = {
    "Myocardium": "myocardium",
    "LAD": "LADMIM",
    "LCX": "LCXMIM",
    "RCA": "RCAMIM",
}

#: Section 3.3.1: the largest univariate |rho| seen, and that no feature survived BH-FDR.
PAPER_MAX_ABS_RHO = 0.15
PAPER_FDR_SURVIVORS = 0

#: Sections 3.3.2 and 4: the terms most often in the winning models.
PAPER_FREQUENT_TERMS: dict[str, tuple[str, ...]] = {
    "Clinical": ("age", "hyperlipidemia", "hypertension", "smoking"),
    "Combined": (
        "age",
        "hyperlipidemia",
        "GLSZM small zone high grey level emphasis",
        "GLDZM small distance high grey level emphasis",
    ),
}

#: Figure 10's case: true CAC, number of test sets with a fit, mean [min, max] prediction.
PAPER_CASE_STUDY: dict[str, float] = {
    "cac": 2239.0,
    "n_predictions": 332,
    "mean_prediction": 1593.0,
    "min_prediction": 639.0,
    "max_prediction": 2037.0,
}


def paper_table3() -> pd.DataFrame:
    """Table 3 as a DataFrame: rows Radiomics/Clinical/Combined, columns mpirad ROI names."""
    return pd.DataFrame(
        {
            pool: dict(zip(PAPER_TABLE3_COLUMNS.values(), values, strict=True))
            for pool, values in PAPER_TABLE3.items()
        }
    ).T.rename_axis(index="pool", columns="roi")


def paper_abstract_medians() -> pd.DataFrame:
    """The abstract's medians: one row per ROI label x pool with ``median_abs_r``/``median_p``."""
    pools = ("Radiomics", "Clinical", "Combined")
    rows = [
        {
            "roi": roi,
            "pool": pool,
            "median_abs_r": PAPER_ABSTRACT_MEDIANS["median_abs_r"][roi][i],
            "median_p": PAPER_ABSTRACT_MEDIANS["median_p"][roi][i],
        }
        for roi in PAPER_ABSTRACT_MEDIANS["median_abs_r"]
        for i, pool in enumerate(pools)
    ]
    return pd.DataFrame(rows)
