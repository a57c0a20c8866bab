"""Validation: AHA 17 segments and Study B ROIs derived from the myocardium vs the truth.

On a synthetic Study B cohort (anatomical orientation, ``short_axis=False``) the derived
segments and ROIs of :func:`mpirad.heart.derive_rois` are compared with the cohort's true
``masks/segments17.nii.gz`` and ROI masks (Dice per patient; median and worst over
patients), in the cohort's own orientation and after rotating every volume by known
angles (image linear, masks nearest neighbour, about the volume centre):

- ``tilt30``: 30 degrees about an axis perpendicular to the nominal long axis (the long
  axis tilts by 30 degrees);
- ``z20+y30``: 20 degrees about the array z axis, then 30 degrees about the y axis.

Methods: ``mask`` (the myocardium alone: roll by the orientation convention), ``mask+RV``
(the image anchors the roll on the right ventricle), ``mask+RV cap.88`` (also the truth's
apex-cap rule). With ``--features`` a few numpy-engine features of derived vs true ROIs are
compared by Spearman correlation across patients.

Usage::

    python benchmarks/heart_segments.py --patients 30
    python benchmarks/heart_segments.py --cohort build/synthetic/study_b --features
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from mpirad.constants import ROI_NAMES
from mpirad.heart import derive_rois
from mpirad.io.volumes import read_volume
from mpirad.phantom import synthesize
from mpirad.phantom.study_b import NOMINAL_LONG_AXIS

METHODS: dict[str, dict] = {
    "mask": {},
    "mask+RV": {"use_image": True},
    "mask+RV cap.88": {"use_image": True, "apex_cap_f": 0.88},
}
FEATURES = (
    ("stat", "mean"),
    ("stat", "cov"),
    ("stat", "rmad"),
    ("cm", "joint_entr"),
    ("cm", "contrast"),
)


def rotation_matrix(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation of ``degrees`` about unit ``axis`` (``(z, y, x)`` components)."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def conditions() -> dict[str, np.ndarray | None]:
    """Name -> rotation applied to the volumes (None = the cohort's own orientation)."""
    perpendicular = np.cross(NOMINAL_LONG_AXIS, [1.0, 0.0, 0.0])
    return {
        "own": None,
        "tilt30": rotation_matrix(perpendicular, 30.0),
        "z20+y30": rotation_matrix([0, 1, 0], 30.0) @ rotation_matrix([1, 0, 0], 20.0),
    }


def rotate(volume: np.ndarray, rotation: np.ndarray, order: int) -> np.ndarray:
    """Rotate an isotropic ``(z, y, x)`` volume about its centre (object rotation)."""
    centre = (np.asarray(volume.shape) - 1) / 2.0
    matrix = rotation.T
    offset = centre - matrix @ centre
    out = ndimage.affine_transform(volume, matrix, offset=offset, order=order, mode="constant")
    return out.astype(volume.dtype)


def load_case(folder: Path) -> dict:
    """A patient's image, spacing, true segments and true ROIs."""
    image = read_volume(folder / "image.nii.gz")
    masks = {n: read_volume(folder / "masks" / f"{n}.nii.gz").array > 0 for n in ROI_NAMES}
    segments = read_volume(folder / "masks" / "segments17.nii.gz").array.astype(np.uint8)
    return {"image": image.array, "spacing": image.spacing, "masks": masks, "segments": segments}


def rotate_case(case: dict, rotation: np.ndarray | None) -> dict:
    """The case rotated (image linear; masks and segments nearest neighbour)."""
    if rotation is None:
        return case
    masks = {n: rotate(m.astype(np.uint8), rotation, 0) > 0 for n, m in case["masks"].items()}
    return {
        "image": rotate(case["image"].astype(np.float64), rotation, 1),
        "spacing": case["spacing"],
        "masks": masks,
        "segments": rotate(case["segments"], rotation, 0),
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (NaN when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else float("nan")


def score_case(case: dict, derived: dict) -> dict[str, float]:
    """Dice of each derived segment and ROI vs the truth."""
    row = {f"seg{k}": dice(derived["segments17"] == k, case["segments"] == k) for k in range(1, 18)}
    row.update({roi: dice(derived[roi], case["masks"][roi]) for roi in ROI_NAMES})
    return row


def derive(case: dict, method: dict) -> dict:
    """Derived ROIs of a case by one method."""
    return derive_rois(
        case["masks"]["myocardium"], case["spacing"], short_axis=False,
        image=case["image"] if method.get("use_image") else None,
        apex_cap_f=method.get("apex_cap_f"),
    )  # fmt: skip


def feature_values(case: dict, rois: dict) -> dict[str, float]:
    """A few numpy-engine features (32 bins; GLCM 3D merged) of each territory ROI."""
    from mpirad.radiomics import extract_features

    out = {}
    for roi in ("LAD17", "LCX17", "RCA17", "LADMIM", "LCXMIM", "RCAMIM"):
        table = extract_features(case["image"], rois[roi], case["spacing"], n_bins=32,
                                 engine="numpy", families=("stat", "cm"))  # fmt: skip
        for family, name in FEATURES:
            rows = table[(table.family == family) & (table.name == name)]
            rows = rows[rows.aggregation.str.contains("merged") | (family != "cm")]
            out[f"{roi}:{name}"] = float(rows["value"].iloc[0]) if len(rows) else float("nan")
    return out


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Median and worst Dice per (condition, method) for every column."""
    columns = [c for c in scores.columns if c.startswith("seg") or c in ROI_NAMES]
    grouped = scores.groupby(["condition", "method"], sort=False)[columns]
    table = pd.concat({"median": grouped.median(), "worst": grouped.min()}, axis=1)
    return table.T.round(3)


def feature_spearman(rows: list[dict]) -> pd.Series:
    """Spearman across patients of each feature, derived vs true ROIs."""
    frame = pd.DataFrame(rows)
    keys = [c.removeprefix("true ") for c in frame.columns if c.startswith("true ")]
    return pd.Series(
        {k: stats.spearmanr(frame[f"true {k}"], frame[f"derived {k}"]).statistic for k in keys}
    ).round(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, default=Path("build/heart_validation/cohort"))
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--features", action="store_true")
    args = parser.parse_args(argv)
    if not (args.cohort / "synthetic_cohort.json").is_file():
        synthesize("b", args.cohort, seed=args.seed, patients=args.patients)
    folders = sorted(p for p in args.cohort.iterdir() if (p / "masks").is_dir())
    start = time.perf_counter()
    scores, feature_rows = [], []
    for folder in folders[: args.patients]:
        base = load_case(folder)
        for condition, rotation in conditions().items():
            case = rotate_case(base, rotation)
            for method_name, method in METHODS.items():
                derived = derive(case, method)
                row = {"patient": folder.name, "condition": condition, "method": method_name}
                scores.append({**row, **score_case(case, derived)})
                if args.features and condition == "own" and method_name == "mask+RV":
                    true = {f"true {k}": v for k, v in feature_values(case, case["masks"]).items()}
                    got = {f"derived {k}": v for k, v in feature_values(case, derived).items()}
                    feature_rows.append({**true, **got})
    table = summarise(pd.DataFrame(scores))
    print(f"{len(folders[: args.patients])} patients, {time.perf_counter() - start:.0f} s\n")
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.to_string())
        if feature_rows:
            print("\nSpearman across patients, derived vs true ROI (mask+RV, own orientation):")
            print(feature_spearman(feature_rows).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
