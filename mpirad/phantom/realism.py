"""How realistic the synthetic images are: the imaging parameters and a texture check.

The synthetic volumes are made by an image-domain model of a reconstructed SPECT study
(:func:`mpirad.phantom.perfusion.image_chain`): the partial-volume LV wall
(:func:`mpirad.phantom.geometry.wall_occupancy`), a Gaussian blur to the reconstructed
resolution, Poisson counts at a noise-equivalent level and a Butterworth post-filter. No
projector is simulated (a projector and an iterative reconstruction per patient would
not fit the two-minute generation budget on two cores); the tomographic reconstruction's
noise amplification enters as one factor, :attr:`ImagingProtocol.noise_amplification`.

:data:`STUDY_B_PROTOCOL` (conventional Anger camera, 4.8 mm voxels) and
:data:`STUDY_A_PROTOCOL` (D-SPECT, 2.5 mm simulation grid) hold the numbers with their
sources (:data:`PARAMETER_SOURCES`). :data:`REAL_REFERENCE` holds texture features of a
real stress SPECT, and :func:`texture_table` puts a cohort's distribution beside them;
:func:`texture_range_table` does the same for every real scan at hand. :data:`REAL_SHAPES`
holds the LV shapes of real expert masks (:mod:`mpirad.heart.shape`), and
:func:`shape_table` puts the cohort's shapes (:func:`cohort_shapes`) beside them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: How many myocardial voxels a contour drawn on the image adds beyond the true wall:
#: the ROI is the true wall grown on both surfaces to the half maximum of the blurred
#: wall profile, ``(sqrt(wall^2 + fwhm^2) - wall) / 2`` (a Gaussian approximation).
ROI_RULE = "true wall grown on both surfaces to the half maximum of the blurred wall"


@dataclass(frozen=True)
class ImagingProtocol:
    """The imaging chain of one synthetic study.

    Attributes:
        camera: what is imitated.
        voxel_mm: isotropic voxel side of the simulated volume (mm).
        fwhm_mm: ``(low, high)`` range of the reconstructed resolution before the
            post-filter (Gaussian FWHM, mm), drawn per patient.
        cutoff_cycles_per_cm: Butterworth post-filter critical frequency (cycles/cm).
        order: Butterworth order.
        myocardial_kcounts: ``(low, high)`` range of myocardial counts of a study (thousands).
        noise_amplification: variance amplification of the reconstruction: a voxel's noise
            is that of ``counts / noise_amplification`` Poisson counts.
    """

    camera: str
    voxel_mm: float
    fwhm_mm: tuple[float, float]
    cutoff_cycles_per_cm: float
    order: int
    myocardial_kcounts: tuple[float, float]
    noise_amplification: float

    def counts_per_unit(self, kcounts: float, wall_uptake: float) -> float:
        """Noise-equivalent counts of a voxel of activity 1.0.

        Args:
            kcounts: the study's myocardial counts (thousands).
            wall_uptake: sum of uptake x wall occupancy over the voxels (voxel units).

        Returns:
            ``kcounts * 1000 / wall_uptake / noise_amplification``.
        """
        return kcounts * 1000.0 / max(wall_uptake, 1.0) / self.noise_amplification


#: Study B: 99mTc-sestamibi stress SPECT on a conventional dual-head camera, 128 x 128
#: matrix of 4.8 mm voxels (the paper's volumes).
STUDY_B_PROTOCOL = ImagingProtocol(
    camera="conventional dual-head Anger camera (LEHR), 4.8 mm voxels",
    voxel_mm=4.8,
    fwhm_mm=(13.0, 16.0),
    cutoff_cycles_per_cm=0.32,
    order=5,
    myocardial_kcounts=(500.0, 500.0),
    noise_amplification=10.0,
)
#: Study A: D-SPECT (CZT) tomograms simulated on a 2.5 mm grid.
STUDY_A_PROTOCOL = ImagingProtocol(
    camera="D-SPECT (CZT), 2.5 mm simulation grid",
    voxel_mm=2.5,
    fwhm_mm=(7.5, 10.0),
    cutoff_cycles_per_cm=0.6,
    order=5,
    myocardial_kcounts=(800.0, 1300.0),
    noise_amplification=10.0,
)

#: Where each number comes from (``ESTIMATE``: no citable source; chosen so the texture
#: of the Study B cohort matches :data:`REAL_REFERENCE`).
PARAMETER_SOURCES: dict[str, str] = {
    "LV size and wall (9-10 mm, apex ~20% thinner)": "ASE / CMR reference values; Kawel et "
    "al., Circ Cardiovasc Imaging 2012 (geometry.sample_lv_shape)",
    "LV length / width 0.9-1.55, basal cut tilted 10-45 degrees (Study B)": "calibrated on 7 "
    "real expert LV-wall masks (PhysioNet MPS v1.0.0; realism.shape_table)",
    "resolution, conventional camera 15.3 mm; D-SPECT 8.6 mm; DNM 530c 6.7 mm (FWHM)": "Imbert "
    "et al., J Nucl Med 2012;53:1897",
    "sensitivity 130 (conventional) vs 850 (D-SPECT) cps/MBq": "Imbert et al. 2012",
    "stress myocardial counts ~1000 k (D-SPECT)": "PMC7417201, methods",
    "Study B voxel 4.8 mm, 128^3 matrix": "the paper's volumes; the real reference scan",
    "Butterworth post-filter (order 5, 0.32 cycles/cm B, 0.6 cycles/cm A)": "ESTIMATE (clinical "
    "Tc-99m post-filters lie near 0.3-0.5 cycles/cm); calibrated on texture",
    "noise amplification 10 (variance)": "ESTIMATE; calibrated on texture",
    "myocardial counts of a conventional study 500 k (x exp(-0.025 (BMI - 30)))": "ESTIMATE "
    "from the sensitivity ratio and a longer acquisition",
    "regional uptake variation of normal myocardium, SD 6% (scale ~10 mm)": "ESTIMATE",
    "ROI: " + ROI_RULE: "ESTIMATE (a contour drawn on the reconstructed image)",
}


@dataclass(frozen=True)
class TextureFeature:
    """One texture feature compared with a real scan.

    Attributes:
        key: column name in :func:`texture_features` output.
        label: what it is, for tables.
        family, name, aggregation: how it is found in an extraction table (``family`` is
            ``None`` for a quantity computed from the raw image).
        real: the value on the real reference scan.
        before: the median of the cohort written by generator version 1.
    """

    key: str
    label: str
    family: str | None
    name: str
    aggregation: str | None
    real: float
    before: float


#: Source of :data:`REAL_REFERENCE`: one anonymised scan, measured by the mpirad developers.
REAL_SOURCE = (
    "one real 99mTc-sestamibi stress SPECT (128^3 matrix), LV myocardium of 1,723 voxels, "
    "64 bins, numpy engine; measured by the mpirad developers, not published"
)
#: Texture of the real reference scan (:data:`REAL_SOURCE`); ``before``: the synthetic
#: cohort of generator version 1 (median).
REAL_REFERENCE: tuple[TextureFeature, ...] = (
    TextureFeature("glcm_correlation", "GLCM correlation", "cm", "corr", "3D averaged (ITBB)",
                   0.72, 0.32),
    TextureFeature("glszm_lze", "GLSZM large zone emphasis", "szm", "lze", None, 6.0, 2.4),
    TextureFeature("gldzm_lde", "GLDZM large distance emphasis", "dzm", "lde", None, 3.1, 1.3),
    TextureFeature("intensity_cov", "intensity coefficient of variation", None, "cov", None,
                   0.21, 0.14),
    TextureFeature("voxels", "myocardium voxels", None, "voxels", None, 1723.0, 970.0),
)  # fmt: skip


def texture_features(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
                     n_bins: int = 64) -> dict[str, float]:  # fmt: skip
    """The :data:`REAL_REFERENCE` features of one ROI.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` ROI mask.
        spacing: voxel size (mm), ``(z, y, x)``.
        n_bins: fixed bin number of the texture features.

    Returns:
        ``{key: value}`` for every :data:`REAL_REFERENCE` feature.
    """
    from mpirad.radiomics import extract_features

    mask = np.asarray(mask, dtype=bool)
    table = extract_features(image, mask, spacing, n_bins=n_bins, engine="numpy",
                             families=("cm", "szm", "dzm"))  # fmt: skip
    values = np.asarray(image, dtype=np.float64)[mask]
    out = {"intensity_cov": float(values.std() / values.mean()), "voxels": float(mask.sum())}
    for feature in REAL_REFERENCE:
        if feature.family is None:
            continue
        rows = table[(table["family"] == feature.family) & (table["name"] == feature.name)]
        if feature.aggregation is not None:
            rows = rows[rows["aggregation"] == feature.aggregation]
        out[feature.key] = float(rows["value"].iloc[0])
    return out


def cohort_texture(
    root: str | os.PathLike[str], patients: int | None = None, roi: str = "myocardium",
    n_bins: int = 64,
) -> pd.DataFrame:  # fmt: skip
    """:func:`texture_features` of the first patients of a Study B dataset.

    Args:
        root: a Study B dataset (folder or manifest dataset).
        patients: how many patients (in id order; ``None``: all).
        roi: the ROI.
        n_bins: fixed bin number.

    Returns:
        One row per patient: ``patient_id`` and the feature keys.
    """
    from mpirad.io.patient_volumes import list_patients, load_patient_rois

    ids = list_patients(root)[:patients]
    rows = []
    for pid in ids:
        loaded = load_patient_rois(root, pid, rois=(roi,))
        features = texture_features(loaded.image, loaded.masks[roi], loaded.spacing, n_bins)
        rows.append({"patient_id": pid, **features})
    return pd.DataFrame(rows)


def texture_table(per_patient: pd.DataFrame) -> pd.DataFrame:
    """The cohort's distribution of each :data:`REAL_REFERENCE` feature beside the real value.

    Args:
        per_patient: :func:`cohort_texture` output.

    Returns:
        One row per feature: ``feature``, ``real`` (:data:`REAL_SOURCE`), ``median``,
        ``p1``, ``p99`` (1st and 99th percentiles of the cohort), ``real_in_range``,
        ``before`` (median of the generator-1 cohort).
    """
    rows = []
    for feature in REAL_REFERENCE:
        values = per_patient[feature.key].to_numpy(dtype=np.float64)
        low, median, high = np.percentile(values, [1, 50, 99])
        rows.append({
            "feature": feature.label,
            "real": feature.real,
            "median": round(float(median), 3),
            "p1": round(float(low), 3),
            "p99": round(float(high), 3),
            "real_in_range": bool(low <= feature.real <= high),
            "before": feature.before,
        })  # fmt: skip
    return pd.DataFrame(rows)


def protocol_table() -> pd.DataFrame:
    """:data:`PARAMETER_SOURCES` as a two-column table (parameter, source)."""
    return pd.DataFrame([{"parameter": k, "source": v} for k, v in PARAMETER_SOURCES.items()])


#: Source of :data:`REAL_SHAPES`.
SHAPE_SOURCE = (
    "the 7 expert LV-wall masks (label 1) of the public PhysioNet 'Myocardial Perfusion "
    "Scintigraphy Image Database' v1.0.0 at hand (CC-BY-4.0; GE Discovery NM 530c, 4 mm "
    "voxels; 5 with their image), measured by mpirad.heart.real_scans.shape_rows"
)
#: The real masks' LV shapes (:data:`SHAPE_SOURCE`; one value per mask, ``real 1``...``real 7``),
#: for the cohort's shape table when the real files are absent
#: (``tests/test_phantom_shape_realism.py`` re-measures them when present).
REAL_SHAPES: dict[str, tuple[float, ...]] = {
    "length_mm": (87.0, 91.0, 65.0, 84.0, 103.0, 92.0, 109.0),
    "width_mm": (70.5, 74.5, 66.0, 69.0, 73.0, 73.0, 74.0),
    "length_to_width": (1.234, 1.221, 0.985, 1.217, 1.411, 1.26, 1.473),
    "outer_diameter_base_mm": (65.0, 70.0, 62.0, 63.0, 67.0, 66.0, 64.0),
    "outer_diameter_mid_mm": (68.0, 68.0, 60.0, 63.0, 71.0, 72.0, 71.0),
    "outer_diameter_apex_mm": (47.0, 43.0, 39.0, 42.0, 45.0, 46.5, 50.0),
    "wall_base_mm": (17.0, 19.5, 16.5, 21.0, 20.75, 21.0, 22.5),
    "wall_mid_mm": (21.5, 24.0, 23.5, 25.25, 21.5, 23.5, 23.5),
    "wall_apex_mm": (24.0, 22.0, 20.0, 21.5, 19.0, 23.5, 25.5),
    "apex_cap_mm": (25.0, 30.0, 25.0, 32.0, 15.0, 20.0, 37.0),
    "basal_opening_mm": (17.0, 33.0, 30.0, 27.0, 15.0, 23.0, 14.0),
    "basal_tilt_deg": (38.919, 24.064, 30.402, 22.907, 31.967, 25.702, 46.017),
    "volume_ml": (193.664, 225.216, 113.216, 193.536, 247.872, 245.888, 266.176),
}


def cohort_shapes(
    root: str | os.PathLike[str], patients: int | None = None, roi: str = "myocardium"
) -> pd.DataFrame:
    """:func:`mpirad.heart.shape.lv_shape` of the first patients' ROI of a Study B dataset.

    Args:
        root: a Study B dataset (folder or manifest dataset).
        patients: how many patients (in id order; ``None``: all).
        roi: the ROI measured (the drawn myocardium).

    Returns:
        One row per patient: ``patient_id`` and the measures of
        :data:`mpirad.heart.shape.SHAPE_MEASURES`.
    """
    from mpirad.heart.shape import lv_shape
    from mpirad.io.patient_volumes import list_patients, load_patient_rois

    rows = []
    for pid in list_patients(root)[:patients]:
        loaded = load_patient_rois(root, pid, rois=(roi,))
        rows.append({"patient_id": pid, **lv_shape(loaded.masks[roi], loaded.spacing)})
    return pd.DataFrame(rows)


def shape_table(per_patient: pd.DataFrame, real: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cohort's spread of each LV measure beside the real masks' values.

    Args:
        per_patient: :func:`cohort_shapes` output.
        real: one row per real mask with the same measure columns (e.g.
            :func:`mpirad.heart.real_scans.shape_rows`); default :data:`REAL_SHAPES`.

    Returns:
        One row per measure (:data:`mpirad.heart.shape.SHAPE_MEASURES`): ``measure``,
        ``real min``, ``real median``, ``real max``, the cohort's ``p1``, ``median``, ``p99``
        and ``real in range`` (how many real values lie within the cohort's 1-99 % range,
        as ``"k of n"``).
    """
    from mpirad.heart.shape import SHAPE_MEASURES

    real = pd.DataFrame(REAL_SHAPES) if real is None else real
    rows = []
    for key, label in SHAPE_MEASURES.items():
        values = per_patient[key].to_numpy(dtype=np.float64)
        truth = real[key].to_numpy(dtype=np.float64)
        truth = truth[np.isfinite(truth)]
        low, median, high = np.nanpercentile(values, [1, 50, 99])
        inside = int(((truth >= low) & (truth <= high)).sum())
        rows.append({
            "measure": label,
            "real min": round(float(truth.min()), 1),
            "real median": round(float(np.median(truth)), 1),
            "real max": round(float(truth.max()), 1),
            "p1": round(float(low), 1),
            "median": round(float(median), 1),
            "p99": round(float(high), 1),
            "real in range": f"{inside} of {len(truth)}",
        })  # fmt: skip
    return pd.DataFrame(rows)


def texture_range_table(per_patient: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """Every real scan's texture features beside the cohort's 1-99 % range.

    Args:
        per_patient: :func:`cohort_texture` output (the synthetic cohort).
        real: one row per real scan (index: its pseudonym) with the
            :data:`REAL_REFERENCE` keys (e.g. :func:`mpirad.heart.real_scans.texture_rows`).

    Returns:
        One row per feature: ``feature``, ``p1``, ``median``, ``p99`` of the cohort, one
        column per real scan and ``real in range`` (``"k of n"``).
    """
    rows = []
    for feature in REAL_REFERENCE:
        values = per_patient[feature.key].to_numpy(dtype=np.float64)
        low, median, high = np.percentile(values, [1, 50, 99])
        scans = real[feature.key].astype(float)
        inside = int(((scans >= low) & (scans <= high)).sum())
        rows.append({
            "feature": feature.label, "p1": round(float(low), 3),
            "median": round(float(median), 3), "p99": round(float(high), 3),
            **{str(k): round(float(v), 3) for k, v in scans.items()},
            "real in range": f"{inside} of {len(scans)}",
        })  # fmt: skip
    return pd.DataFrame(rows)
