"""The heart frame on real LVs (PhysioNet MPS) and on squat synthetic cups; grid invariance.

The real-patient tests read ``../shared/data/physionet_mps`` (or ``MPIRAD_PHYSIONET_MPS``)
and skip, saying where to get the files, when it is absent. Images are read with
SimpleITK (its grid matches the expert masks' affines), masks with mpirad.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from real_data import physionet_mps_dir

from mpirad.heart import derive_rois
from mpirad.heart.reorient import (
    SYNTHETIC_DIRECTION,
    LongAxisWarning,
    axis_angle_deg,
    estimate_long_axis,
    principal_axis,
    reference_rotation,
    voxel_points,
)
from mpirad.heart.segments import DroppedVoxelsWarning
from mpirad.heart.validation import (
    dice,
    resample_to_grid,
    rotated_grid,
    rotated_grid_dice,
    rotation_matrix,
)
from mpirad.heart.views import ring_shares
from mpirad.io.volumes import read_volume
from mpirad.phantom import geometry

#: Short names of the five real patients with masks (no identifier reaches a test id).
REAL = ("dicom-1", "dicom-2", "idsc-1", "idsc-2", "idsc-3")


@dataclass(frozen=True)
class RealCase:
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray


def _read_case(image_path, mask_path) -> RealCase:
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.ReadImage(str(image_path))
    mask = read_volume(mask_path)
    origin = tuple(float(v) for v in image.GetOrigin())
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    # the expert mask is on its image's grid (to 0.01 mm), or nothing here means anything
    assert np.allclose(origin, mask.origin, atol=0.01), (image_path.name, origin, mask.origin)
    assert np.allclose(direction, mask.direction_matrix, atol=1e-4)
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    assert array.shape == mask.array.shape
    return RealCase(array, mask.array > 0, mask.spacing, origin, direction)


@pytest.fixture(scope="module")
def real_cases() -> dict[str, RealCase]:
    root = physionet_mps_dir()
    pairs = sorted(root.glob("*_mask.nii.gz"))
    derived = sorted((root / "derived_nifti_IDSC_SPECT").glob("patient*_mask.nii.gz"))
    paths = [(p.with_name(p.name.replace("_mask.nii.gz", ".dcm")), p) for p in pairs]
    paths += [(p.with_name(p.name.replace("_mask.nii.gz", ".nii.gz")), p) for p in derived]
    if len(paths) != len(REAL):
        pytest.skip(f"expected {len(REAL)} real image + mask pairs in {root}, found {len(paths)}")
    return {name: _read_case(*pair) for name, pair in zip(REAL, paths, strict=True)}


def _derive(case: RealCase) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedVoxelsWarning)
        return derive_rois(
            case.mask, case.spacing, short_axis=False, image=case.image, direction=case.direction
        )


def _known_miss(name: str, misses: dict[str, str]):
    """The patient's parameter, marked xfail (strict) where the criterion is known to miss."""
    if name in misses:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=misses[name]))
    return name


def test_every_real_patient_is_segmented(real_cases: dict[str, RealCase]) -> None:
    for name, case in real_cases.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DroppedVoxelsWarning)
            rois = derive_rois(
                case.mask, case.spacing, short_axis=False, image=case.image,
                direction=case.direction,
            )  # fmt: skip
        kept = rois["myocardium"]
        assert ((rois["segments17"] > 0) == kept).all(), name
        assert set(np.unique(rois["segments17"][kept])) == set(range(1, 18)), name
        dropped = int(case.mask.sum() - kept.sum())
        caught = [w for w in caught if issubclass(w.category, DroppedVoxelsWarning)]
        if dropped:  # stray components: named, and the largest holds most of the wall
            assert kept.sum() > 0.5 * case.mask.sum()
            assert [str(w.message) for w in caught if f"({dropped} voxels" in str(w.message)]
        else:
            assert not caught, name


def test_an_uncertain_long_axis_is_said(real_cases: dict[str, RealCase]) -> None:
    """The patients whose long axis the mask does not fix are warned about, the others not."""
    warned = []
    for name, case in real_cases.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", DroppedVoxelsWarning)
            warnings.simplefilter("always", LongAxisWarning)
            derive_rois(
                case.mask, case.spacing, short_axis=False, image=case.image,
                direction=case.direction,
            )  # fmt: skip
        messages = [str(w.message) for w in caught if issubclass(w.category, LongAxisWarning)]
        if messages:
            warned.append(name)
            assert "differ by 31.5 degrees (more than 15)" in messages[0], messages
    assert warned == ["idsc-1"]  # the known miss of test_two_long_axis_estimates_agree


@pytest.mark.parametrize(
    "name",
    [
        _known_miss(n, {
            "idsc-1": "segment 17 holds 12.6 % on the normal-lines axis: a short LV (31 mm "
            "from base to cavity tip, closed rings over 13.5 mm) with 28.5 mm of apical wall "
            "along the axis, as the larger LVs (27-33 mm); the share follows the uncertain "
            "axis (9.4 % on the normals' perpendicular, 10.5 % on ring centres; "
            "benchmarks/heart_axis_estimates.py)",
            "idsc-3": "segment 17 holds 1.1 %: the mask has no anteroseptal wall (theta "
            "90-210 degrees) over the last 24 mm to the apex, so the axis meets the apical "
            "wall only 15 mm short of the epicardial apex (27-33 mm on the others); every "
            "axis estimate gives 0.2-1.1 %; no wall is invented",
        })
        for n in REAL
    ],
)  # fmt: skip
def test_aha_rings_and_apex_cap(real_cases: dict[str, RealCase], name: str) -> None:
    shares = ring_shares(_derive(real_cases[name])["segments17"])
    for ring in ("basal", "mid", "apical"):
        assert 18.0 <= shares[ring] <= 45.0, shares
    assert 2.0 <= shares["apex (17)"] <= 12.0, shares


@pytest.mark.parametrize(
    "name",
    [
        _known_miss(n, {
            "idsc-1": "normal lines and normals' perpendicular disagree by 31.5 degrees on "
            "this short LV with a long anterior basal wall; circle centres of its short-axis "
            "sections (QGS-like) lie 15.7 and 16.5 degrees from each: the mask does not fix "
            "the axis to 15 degrees; the normal lines, kept, give the longest run of closed "
            "rings (13.5 mm against 7.5 and 10.5; benchmarks/heart_axis_estimates.py)",
        })
        for n in REAL
    ],
)  # fmt: skip
def test_two_long_axis_estimates_agree(real_cases: dict[str, RealCase], name: str) -> None:
    case = real_cases[name]
    kept = _derive(case)["myocardium"]
    estimate = estimate_long_axis(kept, case.spacing)
    assert estimate.agreement_deg <= 15.0, estimate.agreement_deg


@pytest.mark.parametrize("name", REAL)
def test_labels_survive_an_oblique_grid(real_cases: dict[str, RealCase], name: str) -> None:
    case = real_cases[name]
    for axis, degrees in (((0.6, -0.48, 0.64), 25.0), ((-0.3, 0.9, 0.3), 30.0)):
        scores = rotated_grid_dice(
            case.image, case.mask, case.spacing, case.origin, case.direction,
            rotation_matrix(axis, degrees),
        )  # fmt: skip
        assert float(scores.median()) >= 0.8, (axis, degrees, scores.round(2).tolist())


# --- without real data ------------------------------------------------------------------


def test_resample_to_grid_matches_simpleitk() -> None:
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(3)
    # zero borders: ITK counts half a voxel beyond the edge centres as inside, scipy not
    array = np.pad((rng.random((10, 12, 14)) > 0.6).astype(np.uint8), 2)
    spacing, origin = (3.0, 2.0, 2.5), (-10.0, 5.0, 40.0)
    direction = rotation_matrix((1.0, -2.0, 0.5), 40.0)
    new_origin, new_direction = rotated_grid(
        array.shape, spacing, origin, direction, rotation_matrix((0.3, 0.5, 1.0), 25.0)
    )
    ours = resample_to_grid(array, spacing, origin, direction, new_origin, new_direction, order=0)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[::-1])
    image.SetOrigin(origin)
    image.SetDirection(direction.ravel().tolist())
    reference = sitk.Image(image)
    reference.SetOrigin(new_origin)
    reference.SetDirection(np.asarray(new_direction).ravel().tolist())
    theirs = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    assert (sitk.GetArrayFromImage(theirs) == ours).mean() > 0.998
    assert (ours != array).mean() > 0.1  # the grid did turn


def _cup(rotation: np.ndarray, n: int = 48, spacing: float = 4.0):
    """A squat LV cup (as long as wide, like the real masks) posed by ``rotation``."""
    centre = n * spacing / 2.0
    lv = geometry.LVGeometry(
        base_centre_mm=tuple(centre - 30.0 * rotation[0]), rotation=rotation,
        endo_radius_mm=24.0, endo_length_mm=44.0, wall_mm=11.0, apex_wall_mm=11.0,
    )  # fmt: skip
    axis = np.arange(n) * spacing
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    return geometry.evaluate(lv, points), (spacing,) * 3


@pytest.mark.parametrize("tilt_deg", [0.0, 30.0])
def test_long_axis_of_a_squat_cup(tilt_deg: float) -> None:
    long_axis = rotation_matrix((0.0, 1.0, 1.0), tilt_deg) @ np.array([-0.55, 0.5, -0.65])
    rotation = geometry.rotation_from_long_axis(long_axis / np.linalg.norm(long_axis), 0.0)
    fields, spacing = _cup(rotation)
    estimate = estimate_long_axis(fields.myocardium, spacing)
    assert axis_angle_deg(estimate.axis, rotation[0]) < 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", LongAxisWarning)  # a clear axis: nothing to say
        derive_rois(fields.myocardium, spacing, short_axis=False)
    assert estimate.agreement_deg < 10.0
    # a cup as long as wide defeats the principal axis: the test bed is not too kind
    points = voxel_points(fields.myocardium, spacing)
    assert axis_angle_deg(principal_axis(points), rotation[0]) > 20.0


def test_anterior_and_septum_follow_the_direction_cosines() -> None:
    rotation = geometry.rotation_from_long_axis(np.array([-0.55, 0.5, -0.65]) / 0.987, 0.0)
    fields, spacing = _cup(rotation)
    plain = derive_rois(fields.myocardium, spacing, short_axis=False)["segments17"]
    # the same heart stored with the slices running the other way (z towards the feet)
    flipped_direction = np.asarray(SYNTHETIC_DIRECTION) @ np.diag([1.0, 1.0, -1.0])
    flipped = derive_rois(
        fields.myocardium[::-1], spacing, short_axis=False, direction=flipped_direction
    )["segments17"][::-1]
    assert np.median([dice(plain == k, flipped == k) for k in range(1, 18)]) > 0.95
    # without its direction, the flipped volume is read as the synthetic pose: mirrored
    wrong = derive_rois(fields.myocardium[::-1], spacing, short_axis=False)["segments17"][::-1]
    assert np.median([dice(plain == k, wrong == k) for k in range(1, 18)]) < 0.6
    # the default direction is the synthetic cohort's zero-roll rule
    assert np.allclose(reference_rotation(rotation[0], False), rotation, atol=1e-9)
