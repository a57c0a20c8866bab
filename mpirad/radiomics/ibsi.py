"""IBSI vocabulary: feature families, aggregation methods and the feature catalogue.

The image biomarker standardisation initiative (IBSI, Zwanenburg et al., Radiology 2020;
reference manual at https://ibsi.readthedocs.io) gives every feature family, feature and
aggregation method a permanent 4-character identifier. mpirad names a feature by its
family id (the IBSI short prefix, e.g. ``"cm"`` for the grey level co-occurrence matrix)
and a short name (e.g. ``"joint_max"``), following the IBSI short names ``F_cm.joint.max``;
these are also the names used by mirp, the IBSI reference implementation.

The full IBSI catalogue has 487 feature x aggregation combinations (the number SERA, the
software of Study B, computes): 79 single-aggregation features (morphology, local intensity,
statistics, intensity histogram, intensity-volume histogram), 25 GLCM and 16 GLRLM features
in six aggregations, and 16 GLSZM, 16 GLDZM, 5 NGTDM and 17 NGLDM features in three.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class FamilyInfo:
    """A feature family.

    Attributes:
        family: mpirad / IBSI short id, e.g. ``"cm"``.
        label: short display label, e.g. ``"GLCM"``.
        title: IBSI section title.
        ibsi_code: IBSI identifier of the family.
        aggregations: IBSI aggregation methods the family is defined for (see
            :data:`AGGREGATIONS`), 3D ones last.
    """

    family: str
    label: str
    title: str
    ibsi_code: str
    aggregations: tuple[str, ...]


#: IBSI aggregation methods as ``(name, identifier)``. Single-aggregation families are
#: computed over the 3D volume (DHQ4); GLCM/GLRLM have six variants, GLSZM, GLDZM, NGTDM
#: and NGLDM three.
AGGREGATION_METHODS: tuple[tuple[str, str], ...] = (
    ("3D", "DHQ4"),
    ("2D averaged", "BTW3"),
    ("2D slice-merged", "SUJT"),
    ("2.5D direction-merged", "JJUI"),
    ("2.5D merged", "ZW7Z"),
    ("3D averaged", "ITBB"),
    ("3D merged", "IAZD"),
    ("2D", "8QNN"),
    ("2.5D", "62GR"),
    ("3D", "KOBO"),
)


def aggregation_label(name: str, code: str) -> str:
    """The ``aggregation`` column value of a method: its name and IBSI code.

    Args:
        name: e.g. ``"3D averaged"``.
        code: its IBSI identifier, e.g. ``"ITBB"``.

    Returns:
        E.g. ``"3D averaged (ITBB)"``.

    Raises:
        ValueError: for a pair not in :data:`AGGREGATION_METHODS`.
    """
    if (name, code) not in AGGREGATION_METHODS:
        raise ValueError(f"unknown IBSI aggregation method {name!r} ({code})")
    return f"{name} ({code})"


def aggregation_code(label: str) -> str:
    """IBSI identifier in an ``aggregation`` value, e.g. ``"ITBB"`` for ``"3D averaged (ITBB)"``."""
    return label.rsplit("(", 1)[1].rstrip(")")


#: ``aggregation`` column values used throughout mpirad.
AGG_3D = aggregation_label("3D", "DHQ4")
AGG_3D_AVERAGED = aggregation_label("3D averaged", "ITBB")
AGG_3D_MERGED = aggregation_label("3D merged", "IAZD")
AGG_3D_VOLUME = aggregation_label("3D", "KOBO")

#: Aggregations of GLCM/GLRLM (the six 2D to 3D variants of AGGREGATION_METHODS) and of
#: GLSZM, GLDZM, NGTDM, NGLDM (the last three).
_MATRIX_6 = tuple(aggregation_label(name, code) for name, code in AGGREGATION_METHODS[1:7])
_MATRIX_3 = tuple(aggregation_label(name, code) for name, code in AGGREGATION_METHODS[7:])

#: The eleven IBSI feature families, in the IBSI manual's order.
FAMILIES: dict[str, FamilyInfo] = {
    info.family: info
    for info in (
        FamilyInfo("morph", "Morphology", "Morphological features", "HCUG", (AGG_3D,)),
        FamilyInfo("loc", "Local intensity", "Local intensity features", "9ST6", (AGG_3D,)),
        FamilyInfo("stat", "Statistics", "Intensity-based statistical features", "UHIW", (AGG_3D,)),
        FamilyInfo("ih", "Intensity histogram", "Intensity histogram features", "ZVCW", (AGG_3D,)),
        FamilyInfo("ivh", "IVH", "Intensity-volume histogram features", "P88C", (AGG_3D,)),
        FamilyInfo("cm", "GLCM", "Grey level co-occurrence based features", "LFYI", _MATRIX_6),
        FamilyInfo("rlm", "GLRLM", "Grey level run length based features", "TP0I", _MATRIX_6),
        FamilyInfo("szm", "GLSZM", "Grey level size zone based features", "9SAK", _MATRIX_3),
        FamilyInfo("dzm", "GLDZM", "Grey level distance zone based features", "VMDZ", _MATRIX_3),
        FamilyInfo(
            "ngt", "NGTDM", "Neighbourhood grey tone difference based features", "IPET", _MATRIX_3
        ),
        FamilyInfo(
            "ngl", "NGLDM", "Neighbouring grey level dependence based features", "REK0", _MATRIX_3
        ),
    )
}

#: Families whose features depend on the discretisation (bin number / bin width).
DISCRETISED_FAMILIES: tuple[str, ...] = ("ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl")


def texture_aggregations_3d(family: str) -> tuple[str, ...]:
    """The 3D aggregation(s) of a family: two for GLCM/GLRLM, one otherwise."""
    return tuple(a for a in FAMILIES[family].aggregations if a.startswith("3D"))


#: The IBSI features as listed by mirp 2.7 (families in mirp's order).
#: Names and codes as in mirp 2.7 (the IBSI reference implementation), checked against
#: the IBSI manual; IVH codes are those of the specific V10/V90/I10/I90 features.
_MIRP_ORDER_DEFINITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("morph", "volume", "RNU0", "volume"),
    ("morph", "vol_approx", "YEKZ", "approximate volume"),
    ("morph", "area_mesh", "C0JK", "surface area"),
    ("morph", "av", "2PR5", "surface to volume ratio"),
    ("morph", "comp_1", "SKGS", "compactness 1"),
    ("morph", "comp_2", "BQWJ", "compactness 2"),
    ("morph", "sph_dispr", "KRCK", "spherical disproportion"),
    ("morph", "sphericity", "QCFX", "sphericity"),
    ("morph", "asphericity", "25C7", "asphericity"),
    ("morph", "com", "KLMA", "centre of mass shift"),
    ("morph", "integ_int", "99N0", "integrated intensity"),
    ("morph", "diam", "L0JK", "maximum 3D diameter"),
    ("morph", "vol_dens_conv_hull", "R3ER", "convex hull volume density"),
    ("morph", "area_dens_conv_hull", "7T7F", "convex hull area density"),
    ("morph", "vol_dens_aabb", "PBX1", "axis-aligned bounding box volume density"),
    ("morph", "area_dens_aabb", "R59B", "axis-aligned bounding box area density"),
    ("morph", "vol_dens_ombb", "ZH1A", "oriented minimum bounding box volume density"),
    ("morph", "area_dens_ombb", "IQYR", "oriented minimum bounding box area density"),
    ("morph", "vol_dens_mvee", "SWZ1", "minimum volume enclosing ellipsoid volume density"),
    ("morph", "area_dens_mvee", "BRI8", "minimum volume enclosing ellipsoid area density"),
    ("morph", "pca_maj_axis", "TDIC", "major axis length"),
    ("morph", "pca_min_axis", "P9VJ", "minor axis length"),
    ("morph", "pca_least_axis", "7J51", "shortest axis length"),
    ("morph", "pca_elongation", "Q3CK", "elongation"),
    ("morph", "pca_flatness", "N17B", "flatness"),
    ("morph", "vol_dens_aee", "6BDE", "approximate enclosing ellipsoid volume density"),
    ("morph", "area_dens_aee", "RDD2", "approximate enclosing ellipsoid area density"),
    ("morph", "moran_i", "N365", "Moran's I index"),
    ("morph", "geary_c", "NPT7", "Geary's C measure"),
    ("loc", "peak_loc", "VJGA", "local peak"),
    ("loc", "peak_glob", "0F91", "global peak"),
    ("ivh", "v10", "NK6P", "volume fraction at 10% intensity"),
    ("ivh", "v90", "4279", "volume fraction at 90% intensity"),
    ("ivh", "i10", "PWN1", "intensity at 10% volume"),
    ("ivh", "i90", "BOHI", "intensity at 90% volume"),
    ("ivh", "diff_v10_v90", "WITY", "difference in volume fraction between 10% and 90% intensity"),
    ("ivh", "diff_i10_i90", "JXJA", "difference in intensity between 10% and 90% volume"),
    ("ivh", "auc", "9CMM", "area under IVH curve"),
    ("stat", "mean", "Q4LE", "mean"),
    ("stat", "var", "ECT3", "variance"),
    ("stat", "skew", "KE2A", "skewness"),
    ("stat", "kurt", "IPH6", "kurtosis"),
    ("stat", "median", "Y12H", "median"),
    ("stat", "min", "1GSF", "minimum"),
    ("stat", "p10", "QG58", "10th percentile"),
    ("stat", "p90", "8DWT", "90th percentile"),
    ("stat", "max", "84IY", "maximum"),
    ("stat", "iqr", "SALO", "interquartile range"),
    ("stat", "range", "2OJQ", "range"),
    ("stat", "mad", "4FUA", "mean absolute deviation"),
    ("stat", "rmad", "1128", "robust mean absolute deviation"),
    ("stat", "medad", "N72L", "median absolute deviation"),
    ("stat", "cov", "7TET", "coefficient of variation"),
    ("stat", "qcod", "9S40", "quartile coefficient of dispersion"),
    ("stat", "energy", "N8CA", "energy"),
    ("stat", "rms", "5ZWQ", "root mean square"),
    ("ih", "mean", "X6K6", "mean"),
    ("ih", "var", "CH89", "variance"),
    ("ih", "skew", "88K1", "skewness"),
    ("ih", "kurt", "C3I7", "kurtosis"),
    ("ih", "median", "WIFQ", "median"),
    ("ih", "min", "1PR8", "minimum"),
    ("ih", "p10", "GPMT", "10th percentile"),
    ("ih", "p90", "OZ0C", "90th percentile"),
    ("ih", "max", "3NCY", "maximum"),
    ("ih", "mode", "AMMC", "mode"),
    ("ih", "iqr", "WR0O", "interquartile range"),
    ("ih", "range", "5Z3W", "range"),
    ("ih", "mad", "D2ZX", "mean absolute deviation"),
    ("ih", "rmad", "WRZB", "robust mean absolute deviation"),
    ("ih", "medad", "4RNL", "median absolute deviation"),
    ("ih", "cov", "CWYJ", "coefficient of variation"),
    ("ih", "qcod", "SLWD", "quartile coefficient of dispersion"),
    ("ih", "entropy", "TLU2", "entropy"),
    ("ih", "uniformity", "BJ5W", "uniformity"),
    ("ih", "max_grad", "12CE", "maximum histogram gradient"),
    ("ih", "max_grad_g", "8E6O", "maximum histogram gradient grey level"),
    ("ih", "min_grad", "VQB3", "minimum histogram gradient"),
    ("ih", "min_grad_g", "RHQZ", "minimum histogram gradient grey level"),
    ("cm", "joint_max", "GYBY", "joint maximum"),
    ("cm", "joint_avg", "60VM", "joint average"),
    ("cm", "joint_var", "UR99", "joint variance"),
    ("cm", "joint_entr", "TU9B", "joint entropy"),
    ("cm", "diff_avg", "TF7R", "difference average"),
    ("cm", "diff_var", "D3YU", "difference variance"),
    ("cm", "diff_entr", "NTRS", "difference entropy"),
    ("cm", "sum_avg", "ZGXS", "sum average"),
    ("cm", "sum_var", "OEEB", "sum variance"),
    ("cm", "sum_entr", "P6QZ", "sum entropy"),
    ("cm", "energy", "8ZQL", "angular second moment"),
    ("cm", "contrast", "ACUI", "contrast"),
    ("cm", "dissimilarity", "8S9J", "dissimilarity"),
    ("cm", "inv_diff", "IB1Z", "inverse difference"),
    ("cm", "inv_diff_norm", "NDRX", "normalised inverse difference"),
    ("cm", "inv_diff_mom", "WF0Z", "inverse difference moment"),
    ("cm", "inv_diff_mom_norm", "1QCO", "normalised inverse difference moment"),
    ("cm", "inv_var", "E8JP", "inverse variance"),
    ("cm", "corr", "NI2N", "correlation"),
    ("cm", "auto_corr", "QWB0", "autocorrelation"),
    ("cm", "clust_tend", "DG8W", "cluster tendency"),
    ("cm", "clust_shade", "7NFM", "cluster shade"),
    ("cm", "clust_prom", "AE86", "cluster prominence"),
    ("cm", "info_corr1", "R8DG", "first measure of information correlation"),
    ("cm", "info_corr2", "JN9H", "second measure of information correlation"),
    ("rlm", "sre", "22OV", "short runs emphasis"),
    ("rlm", "lre", "W4KF", "long runs emphasis"),
    ("rlm", "lgre", "V3SW", "low grey level run emphasis"),
    ("rlm", "hgre", "G3QZ", "high grey level run emphasis"),
    ("rlm", "srlge", "HTZT", "short run low grey level emphasis"),
    ("rlm", "srhge", "GD3A", "short run high grey level emphasis"),
    ("rlm", "lrlge", "IVPO", "long run low grey level emphasis"),
    ("rlm", "lrhge", "3KUM", "long run high grey level emphasis"),
    ("rlm", "glnu", "R5YN", "grey level non-uniformity"),
    ("rlm", "glnu_norm", "OVBL", "normalised grey level non-uniformity"),
    ("rlm", "rlnu", "W92Y", "run length non-uniformity"),
    ("rlm", "rlnu_norm", "IC23", "normalised run length non-uniformity"),
    ("rlm", "r_perc", "9ZK5", "run percentage"),
    ("rlm", "gl_var", "8CE5", "grey level variance"),
    ("rlm", "rl_var", "SXLW", "run length variance"),
    ("rlm", "rl_entr", "HJ9O", "run entropy"),
    ("szm", "sze", "5QRC", "small zone emphasis"),
    ("szm", "lze", "48P8", "large zone emphasis"),
    ("szm", "lgze", "XMSY", "low grey level zone emphasis"),
    ("szm", "hgze", "5GN9", "high grey level zone emphasis"),
    ("szm", "szlge", "5RAI", "small zone low grey level emphasis"),
    ("szm", "szhge", "HW1V", "small zone high grey level emphasis"),
    ("szm", "lzlge", "YH51", "large zone low grey level emphasis"),
    ("szm", "lzhge", "J17V", "large zone high grey level emphasis"),
    ("szm", "glnu", "JNSA", "grey level non-uniformity"),
    ("szm", "glnu_norm", "Y1RO", "normalised grey level non-uniformity"),
    ("szm", "zsnu", "4JP3", "zone size non-uniformity"),
    ("szm", "zsnu_norm", "VB3A", "normalised zone size non-uniformity"),
    ("szm", "z_perc", "P30P", "zone percentage"),
    ("szm", "gl_var", "BYLV", "grey level variance"),
    ("szm", "zs_var", "3NSA", "zone size variance"),
    ("szm", "zs_entr", "GU8N", "zone size entropy"),
    ("dzm", "sde", "0GBI", "small distance emphasis"),
    ("dzm", "lde", "MB4I", "large distance emphasis"),
    ("dzm", "lgze", "S1RA", "low grey level zone emphasis"),
    ("dzm", "hgze", "K26C", "high grey level zone emphasis"),
    ("dzm", "sdlge", "RUVG", "small distance low grey level emphasis"),
    ("dzm", "sdhge", "DKNJ", "small distance high grey level emphasis"),
    ("dzm", "ldlge", "A7WM", "large distance low grey level emphasis"),
    ("dzm", "ldhge", "KLTH", "large distance high grey level emphasis"),
    ("dzm", "glnu", "VFT7", "grey level non-uniformity"),
    ("dzm", "glnu_norm", "7HP3", "normalised grey level non-uniformity"),
    ("dzm", "zdnu", "V294", "zone distance non-uniformity"),
    ("dzm", "zdnu_norm", "IATH", "normalised zone distance non-uniformity"),
    ("dzm", "z_perc", "VIWW", "zone percentage"),
    ("dzm", "gl_var", "QK93", "grey level variance"),
    ("dzm", "zd_var", "7WT1", "zone distance variance"),
    ("dzm", "zd_entr", "GBDU", "zone distance entropy"),
    ("ngt", "coarseness", "QCDE", "coarseness"),
    ("ngt", "contrast", "65HE", "contrast"),
    ("ngt", "busyness", "NQ30", "busyness"),
    ("ngt", "complexity", "HDEZ", "complexity"),
    ("ngt", "strength", "1X9X", "strength"),
    ("ngl", "lde", "SODN", "low dependence emphasis"),
    ("ngl", "hde", "IMOQ", "high dependence emphasis"),
    ("ngl", "lgce", "TL9H", "low grey level count emphasis"),
    ("ngl", "hgce", "OAE7", "high grey level count emphasis"),
    ("ngl", "ldlge", "EQ3F", "low dependence low grey level emphasis"),
    ("ngl", "ldhge", "JA6D", "low dependence high grey level emphasis"),
    ("ngl", "hdlge", "NBZI", "high dependence low grey level emphasis"),
    ("ngl", "hdhge", "9QMG", "high dependence high grey level emphasis"),
    ("ngl", "glnu", "FP8K", "grey level non-uniformity"),
    ("ngl", "glnu_norm", "5SPA", "normalised grey level non-uniformity"),
    ("ngl", "dcnu", "Z87G", "dependence count non-uniformity"),
    ("ngl", "dcnu_norm", "OKJI", "normalised dependence count non-uniformity"),
    ("ngl", "dc_perc", "6XV8", "dependence count percentage"),
    ("ngl", "gl_var", "1PFV", "grey level variance"),
    ("ngl", "dc_var", "DNX2", "dependence count variance"),
    ("ngl", "dc_entr", "FCBV", "dependence count entropy"),
    ("ngl", "dc_energy", "CAS9", "dependence count energy"),
)

#: (family, name, IBSI code, label) of every IBSI feature (174), in the IBSI manual's order.
FEATURE_DEFINITIONS: tuple[tuple[str, str, str, str], ...] = tuple(
    sorted(_MIRP_ORDER_DEFINITIONS, key=lambda d: list(FAMILIES).index(d[0]))
)

_CODE_BY_FEATURE: dict[tuple[str, str], str] = {(f, n): c for f, n, c, _ in FEATURE_DEFINITIONS}
_LABEL_BY_FEATURE: dict[tuple[str, str], str] = {
    (f, n): lab for f, n, _, lab in FEATURE_DEFINITIONS
}


def ibsi_code(family: str, name: str) -> str:
    """IBSI identifier of a feature.

    Raises:
        KeyError: for a feature outside the IBSI catalogue.
    """
    try:
        return _CODE_BY_FEATURE[(family, name)]
    except KeyError:
        raise KeyError(f"{family}.{name} is not an IBSI feature known to mpirad") from None


def feature_label(family: str, name: str) -> str:
    """Readable label, e.g. ``"GLCM joint maximum"``."""
    return f"{FAMILIES[family].label} {_LABEL_BY_FEATURE[(family, name)]}"


def feature_key(family: str, name: str, aggregation: str) -> str:
    """Compact unique key of a feature variant, e.g. ``"cm.joint_max [3D averaged]"``.

    The aggregation is shown only where a family has two 3D variants (GLCM, GLRLM).
    """
    if aggregation in (AGG_3D, AGG_3D_VOLUME):
        return f"{family}.{name}"
    return f"{family}.{name} [{aggregation.split(' (')[0]}]"


def feature_catalogue() -> pd.DataFrame:
    """The 487 IBSI feature x aggregation combinations.

    Returns:
        One row per combination with columns ``family``, ``name``, ``ibsi_code``,
        ``aggregation``, ``dimension`` (``"2D"``, ``"2.5D"`` or ``"3D"``), ``label``
        and ``key`` (see :func:`feature_key`), in IBSI order.
    """
    rows = []
    for family, name, code, label in FEATURE_DEFINITIONS:
        for aggregation in FAMILIES[family].aggregations:
            rows.append(
                {
                    "family": family,
                    "name": name,
                    "ibsi_code": code,
                    "aggregation": aggregation,
                    "dimension": aggregation.split(" ")[0],
                    "label": f"{FAMILIES[family].label} {label}",
                    "key": feature_key(family, name, aggregation),
                }
            )
    return pd.DataFrame(rows)
