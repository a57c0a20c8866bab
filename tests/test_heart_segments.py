"""AHA 17 segments and Study B ROIs derived from a myocardium mask (mpirad.heart)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mpirad.constants import ROI_NAMES
from mpirad.heart import SegmentationError, derive_rois, estimate_frame, segment_17
from mpirad.heart import segments as heart_segments
from mpirad.io.volumes import read_volume
from mpirad.phantom import geometry, synthesize
from mpirad.phantom.study_b import NOMINAL_LONG_AXIS

SPACING = (2.0, 2.0, 2.0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _short_axis_shell(apex_towards_high_z: bool = True, roll_deg: float = 0.0):
    """A synthetic LV in clinical short-axis orientation (anterior -y, lateral +x)."""
    long_axis = np.array([1.0, 0.0, 0.0]) if apex_towards_high_z else np.array([-1.0, 0, 0])
    anterior, lateral = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    roll = np.radians(roll_deg)
    rotation = np.stack(
        [long_axis, np.cos(roll) * anterior + np.sin(roll) * lateral,
         np.cos(roll) * lateral - np.sin(roll) * anterior]
    )  # fmt: skip
    n = 64
    base_z = 16.0 if apex_towards_high_z else 112.0
    lv = geometry.LVGeometry(base_centre_mm=(base_z, 63.0, 63.0), rotation=rotation,
                             endo_radius_mm=22.0, endo_length_mm=78.0, wall_mm=9.0,
                             apex_wall_mm=7.5)  # fmt: skip
    axis = np.arange(n) * SPACING[0]
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    return geometry.evaluate(lv, points)


def _territory_dice(derived: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    out = {}
    for name, segs in heart_segments.TERRITORY_SEGMENTS.items():
        out[name] = _dice(np.isin(derived, segs), np.isin(truth, segs))
    return out


@pytest.mark.parametrize("apex_high", [True, False])
def test_short_axis_shell_matches_analytic_segments(apex_high: bool) -> None:
    fields = _short_axis_shell(apex_high)
    derived = segment_17(fields.myocardium, SPACING, short_axis=True, apex_cap_f=0.88)
    assert derived.dtype == np.uint8
    assert ((derived > 0) == fields.myocardium).all()
    for name, value in _territory_dice(derived, fields.segment).items():
        assert value >= 0.95, (name, value)
    per_segment = [_dice(derived == k, fields.segment == k) for k in range(1, 18)]
    assert min(per_segment) >= 0.8, np.round(per_segment, 2)


def test_segment_1_anterior_and_septum_left_in_short_axis_slices() -> None:
    fields = _short_axis_shell()
    derived = segment_17(fields.myocardium, SPACING, short_axis=True)
    rows, cols = np.nonzero((derived == 1).any(axis=0))
    centre = np.argwhere(fields.myocardium).mean(axis=0)
    assert rows.mean() < centre[1] - 5  # anterior at the top of the slice (low row)
    rows, cols = np.nonzero(np.isin(derived, (2, 3)).any(axis=0))
    assert cols.mean() < centre[2] - 5  # septum on the left (low column)


def test_explicit_rv_insertion_recovers_a_rolled_heart() -> None:
    fields = _short_axis_shell(roll_deg=25.0)
    plain = segment_17(fields.myocardium, SPACING, short_axis=True, apex_cap_f=0.88)
    anchored = segment_17(
        fields.myocardium, SPACING, short_axis=True, apex_cap_f=0.88,
        rv_insertion_deg=120.0 - 25.0,
    )  # fmt: skip
    assert min(_territory_dice(anchored, fields.segment).values()) >= 0.95
    assert min(_territory_dice(plain, fields.segment).values()) < 0.9


def test_rois_partition_and_nesting() -> None:
    fields = _short_axis_shell()
    rois = derive_rois(fields.myocardium, SPACING, short_axis=True)
    assert set(rois) == {*ROI_NAMES, "segments17"}
    myo = rois["myocardium"]
    union17 = rois["LAD17"] | rois["LCX17"] | rois["RCA17"]
    assert (union17 == myo).all()
    assert not (rois["LAD17"] & rois["LCX17"]).any()
    mims = [rois[f"{t}MIM"] for t in ("LAD", "LCX", "RCA")]
    assert all((m <= myo).all() for m in mims)
    assert int(sum(m.astype(int) for m in mims).max()) == 1
    assert sum(int(m.sum()) for m in mims) < int(myo.sum())  # gaps are left out


def test_mim_rule_is_the_cohorts() -> None:
    assert heart_segments.MIM_SECTORS_DEG == geometry.MIM_SECTORS_DEG
    defaults = geometry.mim_territories.__defaults__  # gap, cap, apex gap, base trim
    assert defaults[1:] == (
        heart_segments.MIM_APEX_CAP_F,
        heart_segments.MIM_APEX_GAP_F,
        heart_segments.MIM_BASE_TRIM_F,
    )


def _shell_mask() -> np.ndarray:
    return _short_axis_shell().myocardium


def test_errors_name_the_problem() -> None:
    mask = _shell_mask()
    with pytest.raises(SegmentationError, match="empty"):
        segment_17(np.zeros_like(mask), SPACING)
    pieces = np.zeros_like(mask)  # three cubes; the largest (11^3 voxels) holds 40 %
    pieces[2:12, 2:12, 2:12] = True
    pieces[20:30, 20:30, 20:30] = True
    pieces[40:51, 40:51, 40:51] = True
    with pytest.raises(SegmentationError, match="3 separate components.*less than 50 %"):
        segment_17(pieces, SPACING)
    tiny = np.zeros_like(mask)
    tiny[30:33, 30:33, 30:33] = True
    with pytest.raises(SegmentationError, match="tiny"):
        segment_17(tiny, SPACING)
    with pytest.raises(SegmentationError, match="not binary"):
        segment_17(mask.astype(np.uint8) * 2, SPACING)
    assert issubclass(SegmentationError, ValueError)


def test_stray_specks_are_dropped_and_named() -> None:
    mask = _shell_mask()
    specks = mask.copy()
    specks[:3, :3, :3] = True  # 27 voxels away from the wall
    with pytest.warns(heart_segments.DroppedVoxelsWarning, match=r"dropped 1 \(27 voxels"):
        rois = derive_rois(specks, SPACING, short_axis=True)
    assert (rois["myocardium"] == mask).all()
    assert not rois["segments17"][:3, :3, :3].any()
    assert ((rois["segments17"] > 0) == mask).all()


def test_open_ring_is_refused() -> None:
    mask = _shell_mask()
    slit = mask.copy()
    slit[:, 30:35, 32:] = False  # a slit through the lateral wall, base to apex
    assert ndimage.label(slit, structure=np.ones((3, 3, 3)))[1] == 1  # still one piece
    with pytest.raises(SegmentationError, match="no closed ring"):
        segment_17(slit, SPACING)


# --- the synthetic Study B cohort: anatomical orientation, own and tilted -------------


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> list[dict]:
    root = synthesize("b", tmp_path_factory.mktemp("heart") / "b", seed=5, patients=4)
    cases = []
    for folder in sorted(p for p in root.iterdir() if (p / "masks").is_dir()):
        image = read_volume(folder / "image.nii.gz")
        cases.append({
            "image": image.array.astype(np.float64),
            "spacing": image.spacing,
            "myocardium": read_volume(folder / "masks/myocardium.nii.gz").array > 0,
            "segments": read_volume(folder / "masks/segments17.nii.gz").array,
        })  # fmt: skip
    return cases


def _rotate(volume: np.ndarray, rotation: np.ndarray, order: int) -> np.ndarray:
    centre = (np.asarray(volume.shape) - 1) / 2.0
    matrix = rotation.T
    return ndimage.affine_transform(volume, matrix, offset=centre - matrix @ centre, order=order)


def _tilt(degrees: float) -> np.ndarray:
    axis = np.cross(NOMINAL_LONG_AXIS, [1.0, 0.0, 0.0])
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


@pytest.mark.parametrize("tilt_deg, target", [(0.0, 0.90), (30.0, 0.85)])
def test_cohort_territory_dice(cohort: list[dict], tilt_deg: float, target: float) -> None:
    scores = []
    for case in cohort:
        image, myo, truth = case["image"], case["myocardium"], case["segments"]
        if tilt_deg:
            rotation = _tilt(tilt_deg)
            image = _rotate(image, rotation, 1)
            myo = _rotate(myo.astype(np.uint8), rotation, 0) > 0
            truth = _rotate(truth, rotation, 0)
        derived = segment_17(myo, case["spacing"], short_axis=False, image=image)
        scores.append(_territory_dice(derived, truth))
    for name in ("LAD", "LCX", "RCA"):
        median = float(np.median([s[name] for s in scores]))
        assert median >= target, (name, tilt_deg, [round(s[name], 3) for s in scores])


def test_cohort_long_axis_is_found(cohort: list[dict]) -> None:
    nominal = np.asarray(NOMINAL_LONG_AXIS) / np.linalg.norm(NOMINAL_LONG_AXIS)
    for case in cohort:
        frame = estimate_frame(case["myocardium"], case["spacing"], short_axis=False)
        # the synthetic hearts are tilted up to 12 degrees from the nominal axis
        assert np.degrees(np.arccos(frame.rotation[0] @ nominal)) < 15.0


def test_layout_uses_the_longest_run_of_closed_rings():
    from mpirad.heart.segments import longest_run

    # a hole at the cavity's tip (-1.5, 0) and one in the base (60) beside the LV's run
    depths = np.array([-1.5, 0.0, 9.0, 10.5, 12.0, 13.5, 15.0, 45.0, 60.0])
    assert longest_run(depths, 1.5) == (9.0, 15.0)
    assert longest_run(np.array([3.0]), 1.5) == (3.0, 3.0)
