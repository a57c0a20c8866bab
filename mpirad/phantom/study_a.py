"""Study A cohort: D-SPECT-like LV tomograms (PNG) with Labelme outlines of ischemia.

Per patient a stress and a rest perfusion volume are simulated in a reoriented (display)
frame on a 2.5 mm grid: the analytic LV of :mod:`mpirad.phantom.geometry` with a small
residual tilt and an off-centre position, 0-3 stress defects placed by coronary territory
(:func:`mpirad.phantom.perfusion.sample_defects`), attenuation-like wall fall-off,
extracardiac hot spots, and the imaging chain of
:data:`mpirad.phantom.realism.STUDY_A_PROTOCOL` (partial-volume wall, 7.5-10 mm FWHM
around D-SPECT's 8.6 mm, Poisson noise at about a million myocardial counts with the
reconstruction's noise amplification, Butterworth post-filter). Short-axis (SA), horizontal (HLA) and vertical long-axis (VLA) slices are
resampled to ``image_size`` pixels and exported as RGB PNG with a colour scale.

Display conventions: SA with anterior up and septum left; HLA with the apex up, septum
left; VLA with anterior up, base left and apex right. Pixel ``(row, col)`` has its centre
at ``((row + 0.5) * px, (col + 0.5) * px)`` mm of a ``FIELD_OF_VIEW_MM`` square.

Labels follow a reader: an image is ischemic (1) when the true stress (or, for a defect
with a fixed component, rest) uptake reduction of at least :data:`DRAW_THRESHOLD` covers
:data:`MIN_DEFECT_AREA_MM2` or more of the myocardium in that slice. Equivocal defects
(reduction 10-18%) are visible but never outlined. The Labelme polygon is traced from the
true defect region perturbed by a smooth random field (a reader's hand), restricted to the
visible wall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage import measure

from mpirad.constants import SEGMENT_TERRITORY
from mpirad.io.labels import write_label_csv
from mpirad.parallel import parallel_map
from mpirad.phantom import geometry, perfusion
from mpirad.phantom.geometry import LVGeometry
from mpirad.phantom.profiles import PARALLEL_FROM
from mpirad.phantom.realism import STUDY_A_PROTOCOL
from mpirad.phantom.writers import write_png_in_build

#: Side of the square field of view of every tomogram (mm).
FIELD_OF_VIEW_MM = 160.0
#: Simulation voxel (mm): D-SPECT reconstructions are ~2.5 mm voxels.
SIMULATION_VOXEL_MM = 2.5
#: Uptake reduction a reader outlines as ischemia (score >= 2 territory).
DRAW_THRESHOLD = 0.20
#: Smallest outlined area in one slice (mm^2).
MIN_DEFECT_AREA_MM2 = 40.0
#: Segment score thresholds on the segment's 75th-percentile reduction: scores 1..4
#: start at 10, 20, 35 and 50% (0 normal, 1 equivocal, 2 moderate, 3 severe, 4 absent).
SCORE_THRESHOLDS = (0.10, 0.20, 0.35, 0.50)
#: Labelme version string written into every annotation.
LABELME_VERSION = "5.4.1"
LABEL_NAME = "ischemia"
PHASES = ("stress", "rest")
VIEWS = ("SA", "HLA", "VLA")
#: Matplotlib colour map of the exported tomograms (luminance rises monotonically, so a
#: grayscale conversion keeps the order of counts).
COLORMAP = "inferno"


@lru_cache(maxsize=1)
def _colour_lut() -> np.ndarray:
    """``(256, 3)`` uint8 lookup table of :data:`COLORMAP`."""
    import matplotlib

    cmap = matplotlib.colormaps[COLORMAP]
    return np.round(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def patient_id(index: int, n_patients: int) -> str:
    """Pseudonymous id ``A001``... (zero-padded to at least 3 digits)."""
    width = max(3, len(str(n_patients)))
    return f"A{index + 1:0{width}d}"


def sample_demographics(rng: np.random.Generator) -> tuple[str, int]:
    """Sex (87/103 male) and age (median ~66, IQR ~58-71, range 47-86) as in Table 1."""
    sex = "M" if rng.random() < 87 / 103 else "F"
    age = int(np.clip(round(rng.normal(65.5, 9.0)), 47, 86))
    return sex, age


def _display_geometry(rng: np.random.Generator, sex: str) -> LVGeometry:
    """An LV in the display frame: nominal axes plus a residual tilt and an offset.

    Display frame axes ``(z, y, x)`` = (long axis base->apex, image rows top->bottom =
    anterior->inferior, image columns = septum->lateral).
    """
    # Generator-2 shapes: Study A's slice truth (LV centres, readers' outlines) was checked
    # on them; the real-calibrated shapes are Study B's (a follow-up for Study A).
    shape = geometry.sample_lv_shape(rng, sex, calibrated=False)
    nominal = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    tilt = geometry.small_rotation(rng, 8.0)
    rotation = nominal @ tilt.T
    epi_length = shape["endo_length_mm"] + shape["apex_wall_mm"]
    centre = np.full(3, FIELD_OF_VIEW_MM / 2) + np.array(
        [rng.uniform(-6.0, 6.0), rng.uniform(-20.0, 20.0), rng.uniform(-20.0, 20.0)]
    )
    base_centre = centre - 0.5 * epi_length * rotation[0]
    return LVGeometry(
        base_centre_mm=tuple(float(c) for c in base_centre), rotation=rotation, **shape
    )


def _grid_points(n: int, voxel: float) -> np.ndarray:
    """``(n, n, n, 3)`` voxel-centre positions (mm) of a cubic grid."""
    axis = (np.arange(n) + 0.5) * voxel
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def segment_scores(fields: geometry.HeartFields, reduction_map: np.ndarray) -> np.ndarray:
    """Semi-quantitative score 0-4 of each AHA segment.

    Args:
        fields: LV fields of the grid.
        reduction_map: fractional uptake reduction on the same grid.

    Returns:
        ``(17,)`` int array: scores of segments 1..17 (75th percentile of the segment's
        reduction against :data:`SCORE_THRESHOLDS`).
    """
    scores = np.zeros(17, dtype=np.int64)
    for seg in range(1, 18):
        values = reduction_map[fields.segment == seg]
        if values.size:
            scores[seg - 1] = int(
                np.searchsorted(SCORE_THRESHOLDS, np.percentile(values, 75), side="right")
            )
    return scores


@dataclass(frozen=True)
class SlicePlan:
    """One exported slice: phase, view, index in its view and plane position (mm)."""

    phase: str
    view: str
    index: int
    position_mm: float


def _slice_points(plan: SlicePlan, image_size: int) -> np.ndarray:
    """``(H, W, 3)`` display-frame positions (mm) of the pixel centres of a slice."""
    px = FIELD_OF_VIEW_MM / image_size
    centres = (np.arange(image_size) + 0.5) * px
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    const = np.full_like(rows, plan.position_mm)
    if plan.view == "SA":
        return np.stack([const, rows, cols], axis=-1)
    if plan.view == "HLA":
        return np.stack([FIELD_OF_VIEW_MM - rows, const, cols], axis=-1)
    return np.stack([cols, rows, const], axis=-1)  # VLA


def _lv_centre_pixel(plan: SlicePlan, lv: LVGeometry, image_size: int) -> tuple[float, float]:
    """True LV centre ``(row, col)`` in the image (pixel index units, centre = integer)."""
    px = FIELD_OF_VIEW_MM / image_size
    centre = lv.centre_mm
    if plan.view == "SA":
        axis = lv.rotation[0]
        point = centre + (plan.position_mm - centre[0]) / axis[0] * axis
        return point[1] / px - 0.5, point[2] / px - 0.5
    if plan.view == "HLA":
        return (FIELD_OF_VIEW_MM - centre[0]) / px - 0.5, centre[2] / px - 0.5
    return centre[1] / px - 0.5, centre[0] / px - 0.5


def _plan_slices(lv: LVGeometry, slices: tuple[int, int, int]) -> list[SlicePlan]:
    """Slices of both phases: SA from apex to base, HLA inferior to anterior, VLA septal to lateral."""
    n_sa, n_hla, n_vla = slices
    centre = lv.centre_mm
    length = lv.epi_length_mm
    radius = lv.endo_radius_mm
    sa = centre[0] + length * (np.linspace(0.92, 0.08, n_sa) - 0.5) if n_sa else []
    hla = centre[1] + radius * 1.4 * ((np.arange(n_hla)[::-1] + 0.5) / n_hla - 0.5)
    vla = centre[2] + radius * 1.4 * ((np.arange(n_vla) + 0.5) / n_vla - 0.5)
    plans = []
    for phase in PHASES:
        for view, positions in (("SA", sa), ("HLA", hla), ("VLA", vla)):
            for k, pos in enumerate(positions):
                plans.append(SlicePlan(phase, view, k + 1, float(pos)))
    return plans


def _reader_polygons(
    rng: np.random.Generator,
    region_reduction: np.ndarray,
    visible_wall: np.ndarray,
    truth_mask: np.ndarray,
    px_mm: float,
) -> list[np.ndarray]:
    """Polygons a reader would draw around the ischemic area of one image.

    Args:
        rng: random generator (the reader's hand).
        region_reduction: ``(H, W)`` true uptake reduction.
        visible_wall: ``(H, W)`` wall as it appears (true wall plus a margin).
        truth_mask: ``(H, W)`` true outlined region (fallback if the hand loses it).
        px_mm: pixel size (mm).

    Returns:
        List of ``(N, 2)`` arrays of ``(x, y)`` = (column, row) vertices.
    """
    min_pixels = MIN_DEFECT_AREA_MM2 / px_mm**2
    noise = ndimage.gaussian_filter(rng.normal(size=region_reduction.shape), sigma=3.0 / px_mm)
    noise *= 0.03 / max(float(noise.std()), 1e-12)
    drawn = visible_wall & (region_reduction + noise >= DRAW_THRESHOLD)
    polygons = []
    for source in (drawn, truth_mask):
        labels, n = ndimage.label(source)
        for component in range(1, n + 1):
            region = ndimage.binary_fill_holes(labels == component)
            if region.sum() < min_pixels:
                continue
            contours = measure.find_contours(np.pad(region, 1).astype(np.float64), 0.5)
            contour = max(contours, key=len) - 1.0
            simplified = measure.approximate_polygon(contour, tolerance=0.5 / px_mm)[:-1]
            if len(simplified) < 3:
                continue
            polygons.append(simplified[:, ::-1])
        if polygons:
            break
    return polygons


def labelme_document(polygons: list[np.ndarray], image_name: str, image_size: int) -> dict:
    """A Labelme 5.x annotation dict with one ``ischemia`` polygon per outline."""
    shapes = [
        {
            "label": LABEL_NAME,
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in polygon],
            "group_id": None,
            "description": "",
            "shape_type": "polygon",
            "flags": {},
            "mask": None,
        }
        for polygon in polygons
    ]
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": image_size,
        "imageWidth": image_size,
    }


def make_patient(
    root: Path,
    seed: int,
    index: int,
    n_patients: int,
    image_size: int,
    slices: tuple[int, int, int],
) -> tuple[dict, list[dict], list[dict]]:
    """Simulate one Study A patient and write its files under ``root``.

    Args:
        root: dataset folder (being built).
        seed: cohort seed.
        index: 0-based patient index (its own random stream).
        n_patients: cohort size (for id padding).
        image_size: PNG side (pixels).
        slices: (SA, HLA, VLA) slices per phase.

    Returns:
        ``(patient_row, image_rows, defect_rows)`` for the tables.
    """
    rng = np.random.default_rng([seed, 0xA, index])
    pid = patient_id(index, n_patients)
    model = _sample_model(rng)
    fields, volumes, reductions, scale = _simulate_phases(rng, model)
    stress_scores = segment_scores(fields, reductions["stress"])
    rest_scores = segment_scores(fields, reductions["rest"])
    lut = _colour_lut()
    image_rows = [
        _write_slice(root, pid, number, plan, model, volumes, scale, image_size, lut, rng)
        for number, plan in enumerate(_plan_slices(model.lv, slices), start=1)
    ]
    labels = pd.DataFrame([{"image": r["image"], "label": r["label"]} for r in image_rows])
    write_label_csv(root / pid / "labels.csv", labels)
    patient_row = _patient_row(pid, model, stress_scores, rest_scores, image_rows)
    defect_rows = [
        {"patient_id": pid, "defect": k + 1, **d.as_dict()} for k, d in enumerate(model.defects)
    ]
    return patient_row, image_rows, defect_rows


@dataclass(frozen=True)
class _PatientModel:
    """One simulated patient's anatomy, defects, attenuation and imaging blur."""

    sex: str
    age: int
    lv: LVGeometry
    defects: list
    inferior: float
    anterior: float
    septal_base: float
    surroundings: perfusion.Surroundings
    fwhm: float


def _sample_model(rng: np.random.Generator) -> _PatientModel:
    """Draw a patient (in this order: the cohort's random streams depend on it)."""
    sex, age = sample_demographics(rng)
    lv = _display_geometry(rng, sex)
    n_defects = int(rng.choice(4, p=[0.05, 0.35, 0.37, 0.23]))
    defects = perfusion.sample_defects(rng, n_defects)
    male = sex == "M"
    inferior = rng.uniform(0.0, 0.25) if male else rng.uniform(0.0, 0.10)
    anterior = rng.uniform(0.0, 0.08) if male else rng.uniform(0.0, 0.25)
    septal_base = rng.uniform(0.05, 0.20)
    surroundings = perfusion.sample_surroundings(rng, lv, 0.5, (0.3, 1.4))
    fwhm = float(rng.uniform(*STUDY_A_PROTOCOL.fwhm_mm))
    return _PatientModel(sex, age, lv, defects, inferior, anterior, septal_base, surroundings,
                         fwhm)  # fmt: skip


def _simulate_phases(
    rng: np.random.Generator, model: _PatientModel
) -> tuple[geometry.HeartFields, dict, dict, dict]:
    """Stress and rest count volumes on the simulation grid.

    Returns:
        ``(fields, volumes, reductions, scale)``: the grid's heart fields, then per phase
        the ``(n, n, n)`` counts, the perfusion reduction and the 99.5th percentile of
        the myocardial counts (the display maximum).
    """
    lv, surroundings = model.lv, model.surroundings
    n_grid = int(round(FIELD_OF_VIEW_MM / SIMULATION_VOXEL_MM))
    points = _grid_points(n_grid, SIMULATION_VOXEL_MM)
    fields = geometry.evaluate(lv, points)
    falloff = perfusion.wall_falloff(fields, model.inferior, model.anterior, model.septal_base)
    shapes = perfusion.surrounding_shapes(lv, fields, points, surroundings)
    occupancy = geometry.wall_occupancy(lv, fields, SIMULATION_VOXEL_MM)
    protocol = STUDY_A_PROTOCOL
    volumes, reductions, scale = {}, {}, {}
    for phase in PHASES:
        reductions[phase] = perfusion.reduction(
            fields, model.defects, phase, where=fields.myocardium
        )
        uptake = falloff * (1.0 - reductions[phase])
        phase_surroundings = surroundings
        if phase == "rest":
            phase_surroundings = perfusion.Surroundings(
                background=surroundings.background,
                blood_pool=surroundings.blood_pool,
                rv_uptake=surroundings.rv_uptake * 0.8,
                hot_spots=tuple(
                    (c, a, lvl * float(rng.uniform(0.8, 1.5)))
                    for c, a, lvl in surroundings.hot_spots
                ),
            )
        act = perfusion.activity(lv, fields, points, uptake, phase_surroundings, shapes,
                                 occupancy)  # fmt: skip
        kcounts = rng.uniform(*protocol.myocardial_kcounts) if phase == "stress" else (
            rng.uniform(500, 1000))  # fmt: skip
        counts_per_unit = protocol.counts_per_unit(kcounts, float((occupancy * uptake).sum()))
        volumes[phase] = perfusion.image_chain(
            act, SIMULATION_VOXEL_MM, model.fwhm, counts_per_unit, rng,
            protocol.cutoff_cycles_per_cm, protocol.order,
        )  # fmt: skip
        scale[phase] = float(np.percentile(volumes[phase][fields.myocardium], 99.5))
    return fields, volumes, reductions, scale


def _write_slice(
    root: Path,
    pid: str,
    number: int,
    plan: SlicePlan,
    model: _PatientModel,
    volumes: dict,
    scale: dict,
    image_size: int,
    lut: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """Write one slice's PNG, truth masks and (when ischemic) Labelme file; its table row."""
    lv, px = model.lv, FIELD_OF_VIEW_MM / image_size
    patient_dir = root / pid
    name = f"{pid}_{number:03d}.png"
    pts = _slice_points(plan, image_size)
    coords = np.moveaxis(pts / SIMULATION_VOXEL_MM - 0.5, -1, 0)
    counts = ndimage.map_coordinates(volumes[plan.phase], coords, order=1, mode="constant")
    grey = np.clip(np.round(counts / scale[plan.phase] * 255.0), 0, 255).astype(np.uint8)
    write_png_in_build(patient_dir / name, lut[grey])

    slice_fields = geometry.evaluate(lv, pts)
    visible = geometry.wall_mask(
        lv, slice_fields.depth_mm, slice_fields.radius_mm, 1.5, slice_fields.theta_deg
    )
    slice_reduction = perfusion.reduction(slice_fields, model.defects, plan.phase, where=visible)
    truth_mask = slice_fields.myocardium & (slice_reduction >= DRAW_THRESHOLD)
    area_mm2 = float(truth_mask.sum()) * px**2
    label = int(area_mm2 >= MIN_DEFECT_AREA_MM2)
    write_png_in_build(root / "truth" / "masks" / pid / name, truth_mask.astype(np.uint8) * 255)
    write_png_in_build(
        root / "truth" / "myocardium" / pid / name, slice_fields.myocardium.astype(np.uint8) * 255
    )
    n_polygons = 0
    if label:
        polygons = _reader_polygons(rng, slice_reduction, visible, truth_mask, px)
        n_polygons = len(polygons)
        document = labelme_document(polygons, name, image_size)
        (patient_dir / name).with_suffix(".json").write_text(
            json.dumps(document, indent=2) + "\n", encoding="utf-8"
        )
    segs = sorted({int(s) for s in np.unique(slice_fields.segment[truth_mask])})
    territories = sorted({SEGMENT_TERRITORY[s] for s in segs})
    row, col = _lv_centre_pixel(plan, lv, image_size)
    return {
        "patient_id": pid,
        "image": name,
        "phase": plan.phase,
        "view": plan.view,
        "slice_index": plan.index,
        "slice_position_mm": round(plan.position_mm, 3),
        "label": label,
        "lv_center_row": round(float(row), 3),
        "lv_center_col": round(float(col), 3),
        "defect_area_mm2": round(area_mm2, 2),
        "myocardium_area_mm2": round(float(slice_fields.myocardium.sum()) * px**2, 2),
        "segments": ";".join(str(s) for s in segs),
        "territories": ";".join(territories),
        "n_polygons": n_polygons,
    }


def _patient_row(
    pid: str,
    model: _PatientModel,
    stress_scores: np.ndarray,
    rest_scores: np.ndarray,
    image_rows: list[dict],
) -> dict:
    """The patient's row of ``patients.csv`` (+ ``_truth``: the simulation parameters)."""
    defects, lv = model.defects, model.lv
    patient_row: dict = {
        "patient_id": pid,
        "sex": model.sex,
        "age": model.age,
        "n_defects": sum(d.severity >= DRAW_THRESHOLD for d in defects),
        "n_equivocal_defects": sum(d.severity < DRAW_THRESHOLD for d in defects),
        "sss": int(stress_scores.sum()),
        "srs": int(rest_scores.sum()),
        "sds": int(stress_scores.sum() - rest_scores.sum()),
        "n_ischemic_segments": int((stress_scores > 0).sum()),
    }
    patient_row.update({f"seg{seg:02d}": int(stress_scores[seg - 1]) for seg in range(1, 18)})
    patient_row["n_images"] = len(image_rows)
    patient_row["n_positive_images"] = sum(r["label"] for r in image_rows)
    patient_row["_truth"] = {
        "endo_radius_mm": lv.endo_radius_mm,
        "endo_length_mm": lv.endo_length_mm,
        "wall_mm": lv.wall_mm,
        "apex_wall_mm": lv.apex_wall_mm,
        "fwhm_mm": model.fwhm,
        "inferior_falloff": model.inferior,
        "anterior_falloff": model.anterior,
        "n_hot_spots": len(model.surroundings.hot_spots),
    }
    return patient_row


def write_cohort(
    root: Path,
    *,
    seed: int,
    patients: int,
    image_size: int,
    slices: tuple[int, int, int],
    scheduler: object = None,
) -> None:
    """Write the whole Study A dataset into ``root`` (an empty folder being built).

    Args:
        root: target folder.
        seed: cohort seed.
        patients: number of patients.
        image_size: PNG side (pixels).
        slices: (SA, HLA, VLA) slices per phase.
        scheduler: a Dask scheduler for the patients (:func:`mpirad.parallel.resolve_scheduler`).
    """
    from mpirad.io.tables import write_parquet
    from mpirad.phantom.writers import write_csv

    results = parallel_map(
        make_patient,
        ((root, seed, i, patients, image_size, tuple(slices)) for i in range(patients)),
        serial_below=PARALLEL_FROM,
        batch_size=4,
        desc="study A patients",
        scheduler=scheduler,
    )
    patient_rows = [r[0] for r in results]
    truth_rows = [{"patient_id": p["patient_id"], **p.pop("_truth")} for p in patient_rows]
    images = pd.DataFrame([row for r in results for row in r[1]])
    defect_columns = ["patient_id", "defect", "territory", "segment", "theta_deg",
                      "long_axis_fraction", "radial_width", "tangential_width", "severity",
                      "reversibility"]  # fmt: skip
    defects = pd.DataFrame([row for r in results for row in r[2]], columns=defect_columns)
    write_csv(root / "patients.csv", pd.DataFrame(patient_rows))
    write_parquet(images, root / "truth" / "images.parquet")
    write_parquet(defects, root / "truth" / "defects.parquet")
    write_parquet(pd.DataFrame(truth_rows), root / "truth" / "patients.parquet")
    (root / "truth" / "README.md").write_text(TRUTH_README_A, encoding="utf-8")


TRUTH_README_A = """\
# Ground truth of the synthetic Study A cohort

Written by `mpirad.phantom.synthesize("a", ...)`. Nothing here is seen by a model: the
model's inputs are the patient folders (`<patient_id>/*.png`, `*.json`, `labels.csv`).

- `images.parquet`: one row per PNG: `patient_id`, `image`, `phase` (stress/rest), `view`
  (SA short axis, HLA horizontal long axis, VLA vertical long axis), `slice_index`,
  `slice_position_mm`, `label` (as in `labels.csv`), `lv_center_row` / `lv_center_col`
  (true LV centre in the PNG, pixel index units with pixel centres at integers: for SA the
  long axis crossing the slice, for HLA/VLA the mid-point of the LV long axis),
  `defect_area_mm2` and `myocardium_area_mm2` in the slice, `segments` and `territories`
  under the true defect (`;`-separated AHA segments 1-17 / LAD, LCX, RCA), `n_polygons`.
- `masks/<patient_id>/<image>.png`: the true outlined region (0/255), for every image: the
  true myocardial wall where the uptake reduction of that phase is at least 20%. An image
  is labelled 1 exactly when this region covers at least 40 mm^2.
- `myocardium/<patient_id>/<image>.png`: the true myocardial wall in each image (0/255).
- `defects.parquet`: every simulated defect: territory and AHA segment of its centre,
  polar-map position (`theta_deg`: 0 lateral, 90 anterior, 180 septal, 270 inferior;
  `long_axis_fraction`: 0 base, 1 apex), widths, `severity` (peak stress reduction; below
  0.2 = equivocal, never outlined) and `reversibility` (share recovering at rest).
- `patients.parquet`: LV size (mm), system resolution (FWHM, mm), attenuation-like
  inferior/anterior fall-off depths and the number of extracardiac hot spots.

`patients.csv` (beside the patient folders) holds the paper's Table 1 variables: sex, age,
per-segment stress scores `seg01`..`seg17` (0 normal, 1 equivocal, 2 moderate, 3 severe,
4 absent; 75th percentile of the segment's reduction against 10/20/35/50%), SSS, SRS,
SDS and image counts.
"""
