"""Published numbers of Study B's feature selection (Ashrafinia et al., medRxiv 2021,
doi:10.1101/2021.01.29.21250803; seed ``001_493d53e0121dab22``), as data for the book.

Sources: section 2.4.1 (pre-computation counts), section 3.2 (post-computation counts,
the features removed at each step, the chosen bin number) and Table 2 (the 56 features).
"""

from __future__ import annotations

import pandas as pd

from mpirad.radiomics.ibsi import AGG_3D_AVERAGED, feature_key

#: Features left after each funnel step (per bin number), paper sections 2.4.1 and 3.2.
#: ``computed`` is not a step of the paper (SERA computed all 487); it equals 166 there.
PAPER_FUNNEL_COUNTS: dict[str, int] = {
    "catalogue": 487,
    "3d_only": 215,
    "a_priori": 166,
    "computed": 166,
    "identical": 162,
    "variety": 121,
    "rho_one": 118,
    "low_range": 113,
    "rho_095": 56,
    "bin_number": 56,
}

#: The bin number the paper chose.
PAPER_N_BINS = 64

#: Features the paper names as removed at each post-computation step (section 3.2), as
#: mpirad feature keys. GLCM/GLRLM "averaged" are 3D averaged.
PAPER_REMOVED: dict[str, tuple[str, ...]] = {
    "identical": ("ih.min", "ih.max", "ih.range", "ngl.dc_perc"),
    "variety": ("GLCM 3D merged (25 features)", "GLRLM 3D merged (16 features)"),
    "rho_one": ("dzm.z_perc", "dzm.glnu_norm", "dzm.glnu"),
    "low_range": (
        "ih.skew",
        "ih.kurt",
        "ih.min_grad",
        feature_key("cm", "clust_shade", AGG_3D_AVERAGED),
        feature_key("cm", "info_corr1", AGG_3D_AVERAGED),
    ),
}

#: Table 2 as printed (SERA names), in reading order (column by column).
PAPER_TABLE2_NAMES: tuple[str, ...] = (
    "Hist__Mean", "Hist__Perc10", "Hist__Perc90", "Hist__Mode", "Hist__Med_abs_dev",
    "Hist__CoV", "Hist__Entropy", "Hist__Max_Grad", "Hist__Max_Grad_GL", "Hist__Min_Grad_GL",
    "IVH__Vol_frac_at_090_intens", "IVH__V90_minus_V10", "IVH__I90minusI10",
    "GLCM_C__Max", "GLCM_C__Entropy", "GLCM_C__Diff_Avg", "GLCM_C__Diff_Var",
    "GLCM_C__Sum_Entropy", "GLCM_C__Energy", "GLCM_C__Inv_Var", "GLCM_C__Corr",
    "GLCM_C__Cluster_prom", "GLRLM_C__SRE", "GLRLM_C__LRLGLE", "GLRLM_C__GL_NU",
    "GLRLM_C__GL_NU_norm", "GLRLM_C__RL_NU", "GLRLM_C__Run_entropy",
    "GLSZM__SZE", "GLSZM__LZE", "GLSZM__LGLE", "GLSZM__HGLE", "GLSZM__SZLGLE",
    "GLSZM__SZHGLE", "GLSZM__LZHGLE", "GLSZM__GL_NU", "GLSZM__GL_NU_norm", "GLSZM__ZS_NU",
    "GLSZM__Zone_perc", "GLSZM__GL_Var", "GLSZM__ZS_Entropy",
    "GLDZM__SDE", "GLDZM__SDHGLE", "GLDZM__LDHGLE", "GLDZM__ZD_NU", "GLDZM__ZD_Entropy",
    "NGTDM__Coarseness", "NGTDM__Contrast", "NGTDM__Busyness", "NGTDM__Complexity",
    "NGTDM__Strength", "NGLDM__LDLGLE", "NGLDM__LDHGLE", "NGLDM__HDHGLE", "NGLDM__DC_NU",
    "NGLDM__DC_Entropy",
)  # fmt: skip

_FAMILY_PREFIX = {
    "Hist": "ih",
    "IVH": "ivh",
    "GLCM_C": "cm",
    "GLRLM_C": "rlm",
    "GLSZM": "szm",
    "GLDZM": "dzm",
    "NGTDM": "ngt",
    "NGLDM": "ngl",
}

_NAME = {
    ("ih", "Mean"): "mean",
    ("ih", "Perc10"): "p10",
    ("ih", "Perc90"): "p90",
    ("ih", "Mode"): "mode",
    ("ih", "Med_abs_dev"): "medad",
    ("ih", "CoV"): "cov",
    ("ih", "Entropy"): "entropy",
    ("ih", "Max_Grad"): "max_grad",
    ("ih", "Max_Grad_GL"): "max_grad_g",
    ("ih", "Min_Grad_GL"): "min_grad_g",
    ("ivh", "Vol_frac_at_090_intens"): "v90",
    ("ivh", "V90_minus_V10"): "diff_v10_v90",
    ("ivh", "I90minusI10"): "diff_i10_i90",
    ("cm", "Max"): "joint_max",
    ("cm", "Entropy"): "joint_entr",
    ("cm", "Diff_Avg"): "diff_avg",
    ("cm", "Diff_Var"): "diff_var",
    ("cm", "Sum_Entropy"): "sum_entr",
    ("cm", "Energy"): "energy",
    ("cm", "Inv_Var"): "inv_var",
    ("cm", "Corr"): "corr",
    ("cm", "Cluster_prom"): "clust_prom",
    ("rlm", "SRE"): "sre",
    ("rlm", "LRLGLE"): "lrlge",
    ("rlm", "GL_NU"): "glnu",
    ("rlm", "GL_NU_norm"): "glnu_norm",
    ("rlm", "RL_NU"): "rlnu",
    ("rlm", "Run_entropy"): "rl_entr",
    ("szm", "SZE"): "sze",
    ("szm", "LZE"): "lze",
    ("szm", "LGLE"): "lgze",
    ("szm", "HGLE"): "hgze",
    ("szm", "SZLGLE"): "szlge",
    ("szm", "SZHGLE"): "szhge",
    ("szm", "LZHGLE"): "lzhge",
    ("szm", "GL_NU"): "glnu",
    ("szm", "GL_NU_norm"): "glnu_norm",
    ("szm", "ZS_NU"): "zsnu",
    ("szm", "Zone_perc"): "z_perc",
    ("szm", "GL_Var"): "gl_var",
    ("szm", "ZS_Entropy"): "zs_entr",
    ("dzm", "SDE"): "sde",
    ("dzm", "SDHGLE"): "sdhge",
    ("dzm", "LDHGLE"): "ldhge",
    ("dzm", "ZD_NU"): "zdnu",
    ("dzm", "ZD_Entropy"): "zd_entr",
    ("ngt", "Coarseness"): "coarseness",
    ("ngt", "Contrast"): "contrast",
    ("ngt", "Busyness"): "busyness",
    ("ngt", "Complexity"): "complexity",
    ("ngt", "Strength"): "strength",
    ("ngl", "LDLGLE"): "ldlge",
    ("ngl", "LDHGLE"): "ldhge",
    ("ngl", "HDHGLE"): "hdhge",
    ("ngl", "DC_NU"): "dcnu",
    ("ngl", "DC_Entropy"): "dc_entr",
}


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 with each SERA name mapped to the mpirad / IBSI feature.

    ``GLCM_C`` / ``GLRLM_C`` are mapped to the 3D averaged variety, which section 3.2 says
    was kept (the ``_C`` suffix of the table is not explained in the paper).
    ``IVH__V90_minus_V10`` is the IBSI ``V10 - V90`` feature (the only volume-fraction
    difference IBSI defines) and ``IVH__I90minusI10`` the IBSI ``I10 - I90``.

    Returns:
        56 rows: ``paper_name``, ``family``, ``name``, ``key`` (see
        :func:`mpirad.radiomics.ibsi.feature_key`).
    """
    from mpirad.radiomics.ibsi import AGG_3D, AGG_3D_VOLUME

    rows = []
    for paper_name in PAPER_TABLE2_NAMES:
        prefix, short = paper_name.split("__", 1)
        family = _FAMILY_PREFIX[prefix]
        name = _NAME[(family, short)]
        if family in ("cm", "rlm"):
            aggregation = AGG_3D_AVERAGED
        elif family in ("ih", "ivh"):
            aggregation = AGG_3D
        else:
            aggregation = AGG_3D_VOLUME
        rows.append(
            {
                "paper_name": paper_name,
                "family": family,
                "name": name,
                "key": feature_key(family, name, aggregation),
            }
        )
    return pd.DataFrame(rows)


def compare_counts(counts: dict[str, int]) -> pd.DataFrame:
    """This run's funnel counts next to the paper's.

    Args:
        counts: :attr:`mpirad.radiomics.funnel.FunnelResult.counts`.

    Returns:
        One row per step: ``step``, ``description``, ``paper``, ``this run``.
    """
    from mpirad.radiomics.funnel import STEP_LABELS

    return pd.DataFrame(
        {
            "step": list(counts),
            "description": [STEP_LABELS[s] for s in counts],
            "paper": [PAPER_FUNNEL_COUNTS.get(s) for s in counts],
            "this run": list(counts.values()),
        }
    )


def compare_selection(selected: list[str]) -> pd.DataFrame:
    """The selected features against the paper's Table 2.

    Args:
        selected: feature keys selected by this run.

    Returns:
        One row per feature in either list: ``key``, ``family``, ``paper_name`` (empty if
        not in Table 2), ``in paper``, ``in this run``; Table 2 order first.
    """
    table2 = paper_table2()
    rows = [
        {
            "key": row.key,
            "family": row.family,
            "paper_name": row.paper_name,
            "in paper": True,
            "in this run": row.key in set(selected),
        }
        for row in table2.itertuples()
    ]
    paper_keys = set(table2["key"])
    rows += [
        {
            "key": key,
            "family": key.split(".")[0],
            "paper_name": "",
            "in paper": False,
            "in this run": True,
        }
        for key in selected
        if key not in paper_keys
    ]
    return pd.DataFrame(rows)
