"""Study B cohort: normal stress SPECT volumes with seven ROIs, clinical table and CAC.

Per patient a 3D stress volume of ``volume_size`` cubic voxels of 4.8 mm is simulated:
the analytic LV of :mod:`mpirad.phantom.geometry` in an anatomical pose (long axis towards
the patient's left, anterior and inferior, with per-patient jitter), no perfusion defect
(the paper's scans are normal), residual attenuation driven by BMI and sex, regional
variation of normal uptake (:data:`NORMAL_VARIATION`), rare faint extracardiac activity
and the planted image signal (see :data:`PLANTED_SIGNAL`): uptake heterogeneity in each
coronary territory whose amplitude rises with log1p of that artery's CAC. The imaging
chain of a conventional camera (:data:`mpirad.phantom.realism.STUDY_B_PROTOCOL`:
partial-volume wall, 13-16 mm FWHM, Poisson counts falling with BMI, Butterworth
post-filter) gives the volumes the texture of real reconstructions; the myocardium ROI is
drawn as on the image, the true wall grown to the half maximum of its blurred profile
(:func:`roi_margin_mm`).

Volumes are NIfTI (``(z, y, x)`` arrays, see :func:`mpirad.io.volumes.write_nifti`); array
axes map to the patient as ``(z, y, x) -> (superior, anterior, right)``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from mpirad.constants import ROI_NAMES, TERRITORY_SEGMENTS
from mpirad.io.volumes import write_nifti
from mpirad.parallel import parallel_map
from mpirad.phantom import clinical as clinical_model
from mpirad.phantom import geometry, perfusion
from mpirad.phantom.geometry import LVGeometry
from mpirad.phantom.profiles import PARALLEL_FROM
from mpirad.phantom.realism import ROI_RULE, STUDY_B_PROTOCOL
from mpirad.stats.report import bin_counts

#: Isotropic voxel size of Study B volumes (mm), as in the paper.
VOXEL_MM = STUDY_B_PROTOCOL.voxel_mm
#: Nominal long-axis direction (base to apex) in ``(z, y, x)`` components:
#: inferior (-z), anterior (+y), patient's left (-x).
NOMINAL_LONG_AXIS = (-0.55, 0.5, -0.65)

#: The planted relation between CAC and the image (also written to ``truth.json``).
PLANTED_SIGNAL: dict = {
    "mechanism": "fine-scale multiplicative uptake heterogeneity in each coronary territory",
    "texture": "Gaussian white noise smoothed with sigma texture_sigma_voxels (4.8 mm voxels), "
    "scaled to unit SD over the true wall; uptake *= 1 + amplitude * texture before the "
    "imaging chain",
    "amplitude": "amplitude_t = base + slope * log1p(cac_t) for territory t in LAD, LCX, RCA "
    "(AHA 17-segment territories; the LAD uses cac_lad, the LCX cac_lcx, the RCA cac_rca; "
    "the left main is not used)",
    "texture_sigma_voxels": 1.5,
    "base": 0.03,
    "slope": 0.007,
    "expected_direction": "texture heterogeneity / irregularity features of a territory's ROI "
    "rise weakly with log1p of its artery's CAC (and of cac_total for the myocardium)",
}
#: Regional uptake variation of normal myocardium (independent of CAC): uptake *= 1 + sd *
#: n(x), n Gaussian noise smoothed with ``sigma_voxels`` and scaled to unit SD over the wall.
NORMAL_VARIATION: dict = {"sd": 0.06, "sigma_voxels": 2.0}
#: Confounders: clinical variables that also change the image.
CONFOUNDERS: dict = {
    "inferior_attenuation": "men: uniform(0, 0.12) + 0.01 * (BMI - 30), clipped to [0, 0.3]: "
    "depth of a residual inferior (diaphragmatic) fall-off",
    "anterior_attenuation": "women: uniform(0, 0.12) * BMI / 30, clipped to [0, 0.3]: depth of a "
    "residual anterior (breast) fall-off",
    "counts": "myocardial counts = 500 k * exp(-0.025 * (BMI - 30)) (noise-equivalent counts "
    "a tenth of that): heavier patients give noisier images",
}


def patient_id(index: int, n_patients: int) -> str:
    """Pseudonymous id ``B001``... (zero-padded to at least 3 digits)."""
    width = max(3, len(str(n_patients)))
    return f"B{index + 1:0{width}d}"


def _anatomical_geometry(rng: np.random.Generator, sex: str, volume_size: int) -> LVGeometry:
    """An LV posed in the volume: jittered long axis and roll, jittered position."""
    shape = geometry.sample_lv_shape(rng, sex)
    long_axis = geometry.small_rotation(rng, 12.0) @ np.asarray(NOMINAL_LONG_AXIS)
    rotation = geometry.rotation_from_long_axis(long_axis, float(rng.uniform(-15.0, 15.0)))
    epi_length = shape["endo_length_mm"] + shape["apex_wall_mm"]
    centre = np.full(3, volume_size * VOXEL_MM / 2) + rng.uniform(-8.0, 8.0, 3)
    base_centre = centre - 0.5 * epi_length * rotation[0]
    return LVGeometry(
        base_centre_mm=tuple(float(c) for c in base_centre), rotation=rotation, **shape
    )


def territory_amplitudes(cac_row: dict) -> dict[str, float]:
    """Planted heterogeneity amplitude per territory from a patient's per-artery CAC."""
    base, slope = PLANTED_SIGNAL["base"], PLANTED_SIGNAL["slope"]
    return {
        territory: base + slope * float(np.log1p(cac_row[f"cac_{territory.lower()}"]))
        for territory in ("LAD", "LCX", "RCA")
    }


def _uptake(rng: np.random.Generator, fields, sex: str, bmi: float, cac_row: dict) -> tuple:
    """Myocardial uptake everywhere: attenuation residuals, normal variation, planted signal.

    Returns:
        ``(uptake, amplitudes, inferior, anterior)``: the ``(n, n, n)`` uptake (meaningful
        in and near the wall), the planted amplitude per territory and the attenuation
        fall-off depths.
    """
    if sex == "M":
        inferior = float(np.clip(rng.uniform(0.0, 0.12) + 0.01 * (bmi - 30.0), 0.0, 0.3))
        anterior = 0.0
    else:
        inferior = 0.0
        anterior = float(np.clip(rng.uniform(0.0, 0.12) * bmi / 30.0, 0.0, 0.3))
    uptake = perfusion.wall_falloff(fields, inferior, anterior, float(rng.uniform(0.05, 0.15)))
    wall = fields.myocardium
    variation = _unit_field(rng, wall, NORMAL_VARIATION["sigma_voxels"])
    uptake = uptake * np.clip(1.0 + NORMAL_VARIATION["sd"] * variation, 0.0, None)
    texture = _unit_field(rng, wall, PLANTED_SIGNAL["texture_sigma_voxels"])
    amplitudes = territory_amplitudes(cac_row)
    territory = geometry.territory_map(
        geometry.aha_segment(fields.long_axis_fraction, fields.theta_deg)
    )
    amplitude_map = np.zeros(wall.shape)
    for name, amp in amplitudes.items():
        amplitude_map[territory == geometry.TERRITORY_CODES[name]] = amp
    uptake = uptake * np.clip(1.0 + amplitude_map * texture, 0.0, None)
    return uptake, amplitudes, inferior, anterior


def _unit_field(rng: np.random.Generator, wall: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """Gaussian white noise smoothed with ``sigma_voxels``, unit SD over the wall."""
    field = ndimage.gaussian_filter(rng.normal(size=wall.shape), sigma=sigma_voxels, mode="wrap")
    return field / max(float(field[wall].std()), 1e-12)


def roi_margin_mm(wall_mm: float, fwhm_mm: float) -> float:
    """How far the drawn ROI extends beyond each true wall surface (mm).

    The half maximum of a wall of thickness ``wall_mm`` blurred by a Gaussian of
    ``fwhm_mm`` lies about ``(sqrt(wall^2 + fwhm^2) - wall) / 2`` outside each surface
    (:data:`mpirad.phantom.realism.ROI_RULE`).
    """
    return 0.5 * (float(np.hypot(wall_mm, fwhm_mm)) - wall_mm)


def simulate_patient(
    seed: int, index: int, volume_size: int, clinical_row: dict, cac_row: dict
) -> tuple[np.ndarray, geometry.HeartFields, dict]:
    """Simulate one Study B patient in memory.

    Args:
        seed: cohort seed.
        index: 0-based patient index (its own random stream).
        volume_size: voxels per side.
        clinical_row: the patient's clinical features.
        cac_row: the patient's CAC scores.

    Returns:
        ``(volume, roi_fields, row)``: the ``(n, n, n)`` float32 stress volume, the LV
        fields with the drawn ROI as ``myocardium`` (and its segments), and the patient's
        ground-truth values (without ``patient_id`` and ROI sizes).
    """
    protocol = STUDY_B_PROTOCOL
    rng = np.random.default_rng([seed, 0xB, index])
    sex, bmi = clinical_row["sex"], float(clinical_row["bmi"])
    lv = _anatomical_geometry(rng, sex, volume_size)
    axis = (np.arange(volume_size) + 0.5) * VOXEL_MM
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    fields = geometry.evaluate(lv, points)
    uptake, amplitudes, inferior, anterior = _uptake(rng, fields, sex, bmi, cac_row)
    surroundings = perfusion.sample_surroundings(rng, lv, 0.15, (0.15, 0.5))
    occupancy = geometry.wall_occupancy(lv, fields, VOXEL_MM)
    act = perfusion.activity(lv, fields, points, uptake, surroundings, occupancy=occupancy)
    fwhm = float(rng.uniform(*protocol.fwhm_mm))
    kcounts = protocol.myocardial_kcounts[0] * float(np.exp(-0.025 * (bmi - 30.0)))
    counts_level = protocol.counts_per_unit(kcounts, float((occupancy * uptake).sum()))
    volume = perfusion.image_chain(act, VOXEL_MM, fwhm, counts_level, rng,
                                   protocol.cutoff_cycles_per_cm, protocol.order)  # fmt: skip
    roi_fields = geometry.evaluate(lv, points, margin_mm=roi_margin_mm(lv.wall_mm, fwhm))
    row = {
        **{f"amplitude_{t.lower()}": round(a, 6) for t, a in amplitudes.items()},
        "inferior_attenuation": round(inferior, 6),
        "anterior_attenuation": round(anterior, 6),
        "myocardial_kcounts": round(kcounts, 3),
        "counts_level": round(counts_level, 4),
        "fwhm_mm": round(fwhm, 4),
        "n_hot_spots": len(surroundings.hot_spots),
        "endo_radius_mm": round(lv.endo_radius_mm, 4),
        "endo_length_mm": round(lv.endo_length_mm, 4),
        "wall_mm": round(lv.wall_mm, 4),
        "true_wall_voxels": int(fields.myocardium.sum()),
    }
    return volume, roi_fields, row


def make_patient(
    root: Path, seed: int, index: int, n_patients: int, volume_size: int, clinical_row: dict,
    cac_row: dict,
) -> dict:  # fmt: skip
    """Simulate one Study B patient and write its volume and masks under ``root``.

    Args:
        root: dataset folder (being built).
        seed: cohort seed.
        index: 0-based patient index (its own random stream).
        n_patients: cohort size (for id padding).
        volume_size: voxels per side.
        clinical_row: the patient's clinical features.
        cac_row: the patient's CAC scores.

    Returns:
        The patient's ground-truth row (image parameters, ROI sizes).
    """
    pid = patient_id(index, n_patients)
    volume, roi_fields, truth = simulate_patient(seed, index, volume_size, clinical_row, cac_row)
    spacing = (VOXEL_MM, VOXEL_MM, VOXEL_MM)
    patient_dir = root / pid
    write_nifti(patient_dir / "image.nii.gz", volume, spacing)
    rois = geometry.roi_masks(roi_fields)
    for name in ROI_NAMES:
        write_nifti(patient_dir / "masks" / f"{name}.nii.gz", rois[name].astype(np.uint8), spacing)
    write_nifti(patient_dir / "masks" / "segments17.nii.gz", roi_fields.segment, spacing)
    row = {"patient_id": pid, **truth}
    row.update({f"voxels_{name}": int(rois[name].sum()) for name in ROI_NAMES})
    return row


def clinical_r_squared(clinical: pd.DataFrame, cac: pd.DataFrame) -> float:
    """In-sample R^2 of an OLS of log1p(total CAC) on the ten clinical features.

    Categorical features are dummy-coded (first level dropped); numpy least squares.

    Args:
        clinical: ``clinical.csv`` table.
        cac: ``cac.csv`` table (same patient order).

    Returns:
        The coefficient of determination; NaN when there are no more patients than
        coefficients or the outcome does not vary.
    """
    design = pd.get_dummies(clinical.drop(columns="patient_id"), drop_first=True).astype(float)
    x = np.column_stack([np.ones(len(design)), design.to_numpy()])
    y = np.log1p(cac["cac_total"].to_numpy(dtype=float))
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coefficients
    total = float((y - y.mean()) @ (y - y.mean()))
    if len(y) <= x.shape[1] or total == 0.0:
        return float("nan")
    return float(1.0 - residual @ residual / total)


def _finite_or_none(value: float, digits: int = 4) -> float | None:
    """Rounded value, or None (JSON null) when not finite."""
    return round(value, digits) if np.isfinite(value) else None


def write_cohort(
    root: Path, *, seed: int, patients: int, volume_size: int, scheduler: object = None
) -> None:
    """Write the whole Study B dataset into ``root`` (an empty folder being built).

    Args:
        root: target folder.
        seed: cohort seed.
        patients: number of patients.
        volume_size: voxels per side.
        scheduler: a Dask scheduler for the patients (:func:`mpirad.parallel.resolve_scheduler`).
    """
    from mpirad.phantom.writers import write_csv

    ids = [patient_id(i, patients) for i in range(patients)]
    table_rng = np.random.default_rng([seed, 0xB, 0xC11])
    clinical = clinical_model.sample_clinical(table_rng, ids)
    cac, latent = clinical_model.sample_cac(table_rng, clinical)
    clinical_rows = clinical.to_dict("records")
    cac_rows = cac.to_dict("records")
    truth_rows = parallel_map(
        make_patient,
        (
            (root, seed, i, patients, volume_size, clinical_rows[i], cac_rows[i])
            for i in range(patients)
        ),
        serial_below=PARALLEL_FROM,
        batch_size=4,
        desc="study B patients",
        scheduler=scheduler,
    )
    write_csv(root / "clinical.csv", clinical)
    write_csv(root / "cac.csv", cac)
    truth = pd.DataFrame(truth_rows).merge(latent, on="patient_id")
    write_csv(root / "truth" / "patients.csv", truth)
    document = {
        "study": "b",
        "seed": seed,
        "voxel_mm": VOXEL_MM,
        "volume_size": volume_size,
        "territory_segments": {k: list(v) for k, v in TERRITORY_SEGMENTS.items()},
        "cac_model": {
            "presence_log_odds": clinical_model.PRESENCE_LOG_ODDS,
            "amount_coefficients": clinical_model.AMOUNT_COEFFICIENTS,
            "amount_residual_sd": clinical_model.AMOUNT_RESIDUAL_SD,
            "calibration": "rank-based to the paper's Figure 4 counts scaled to the cohort",
            "target_bin_counts": clinical_model.target_bin_counts(patients),
            "artery_concentration": clinical_model.ARTERY_CONCENTRATION,
            "artery_involvement": clinical_model.ARTERY_INVOLVEMENT,
        },
        "measured": {
            "r2_clinical_on_log1p_cac_total": _finite_or_none(clinical_r_squared(clinical, cac)),
            "figure4_bin_counts": {k: int(v) for k, v in bin_counts(cac["cac_total"]).items()},
        },
        "imaging": {
            **dataclasses.asdict(STUDY_B_PROTOCOL),
            "roi": ROI_RULE,
            "normal_variation": NORMAL_VARIATION,
        },  # fmt: skip
        "planted_signal": PLANTED_SIGNAL,
        "confounders": CONFOUNDERS,
        "null": "every other image property (shape, size, pose, resolution, hot spots) is "
        "independent of CAC given the clinical features",
    }
    (root / "truth.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (root / "truth" / "README.md").write_text(TRUTH_README_B, encoding="utf-8")


TRUTH_README_B = """\
# Ground truth of the synthetic Study B cohort

Written by `mpirad.phantom.synthesize("b", ...)`; `../truth.json` holds the same model in
machine-readable form, with the numbers measured on this cohort. Nothing here should be
used as a model input.

## What an analysis should find

1. **Clinical features predict CAC.** Per-artery Agatston scores come from a two-part
   model (presence: logistic; amount: log-linear, Pletcher et al. 2004 coefficients) of age,
   sex, race, hypertension, hyperlipidemia, smoking, diabetes, family history and BMI. The
   intercepts are calibrated by rank so the total scores fill the paper's Figure 4 bins in
   the paper's proportions. An OLS of log(1 + total CAC) on the ten clinical features
   explains about a quarter of its variance (`measured.r2_clinical_on_log1p_cac_total`).
   LVEF has no CAC effect (it differs by sex only).
2. **A weak planted image signal.** Within each coronary territory (AHA 17-segment
   assignment) the myocardial uptake is multiplied by `1 + a_t * n(x)`, where `n` is
   Gaussian noise smoothed with sigma 1.5 voxels (scaled to unit SD over the true wall)
   and `a_t = 0.03 + 0.007 * log(1 + CAC_t)` for the territory's own artery (LAD ->
   `cac_lad`, LCX -> `cac_lcx`, RCA -> `cac_rca`), before the imaging chain.
   Texture / heterogeneity features of a territory's ROI therefore rise weakly with its
   artery's CAC (and the myocardium's with the total).
3. **Confounders.** Residual attenuation (inferior fall-off in men, growing with BMI;
   anterior fall-off in women, growing with BMI) and noisier images in heavier patients
   (myocardial counts `500 k * exp(-0.025 * (BMI - 30))`). Because sex and
   BMI are related to CAC, image features touched by them correlate with CAC without any
   planted effect.
4. **Everything else is null**: LV size, shape and pose, resolution (13-16 mm FWHM before a
   Butterworth post-filter), the regional variation of normal uptake (SD 6%), the
   basal-septal dip, blood pool, right ventricle and the rare faint extracardiac hot spots
   are independent of CAC given the clinical features. `../truth.json` (`imaging`) holds
   the imaging chain's parameters; their sources are in `mpirad.phantom.realism`.

## Files

- `patients.csv`: per patient, the planted heterogeneity amplitudes (`amplitude_lad`,
  `amplitude_lcx`, `amplitude_rca`), residual attenuation depths, myocardial counts
  (thousands) and noise-equivalent counts of a voxel of activity 1 (`counts_level`),
  resolution (FWHM, mm), number of extracardiac hot spots, LV size (mm), the true wall's
  and the ROIs' sizes (voxels) and the CAC model's latent presence / amount scores.
- `<patient_id>/masks/segments17.nii.gz` (beside the ROIs): the AHA segment (1-17) of
  every myocardial voxel, 0 elsewhere.

Volumes are `(z, y, x)` arrays of 4.8 mm voxels with `(z, y, x) -> (superior, anterior,
patient's right)`; the ROI myocardium is drawn as on the image: the true wall grown on both
surfaces by `(sqrt(wall^2 + fwhm^2) - wall) / 2` mm, the half maximum of the blurred wall.
"""
