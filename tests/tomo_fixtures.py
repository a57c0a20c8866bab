"""Tiny Study A datasets for the tomo tests (no tests here; imported by the tomo tests).

Each slice is a bright ring (the LV myocardium in short axis) on a dark, slightly noisy
background, centred at a known, randomly shifted point. Ischemic slices have a sector
of the ring at 25% intensity and a Labelme polygon outlining that sector.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.io import write_label_csv, write_png


def ring_image(
    size: int,
    centre: tuple[float, float],
    *,
    radius: float,
    thickness: float,
    defect: tuple[float, float] | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[list[float]] | None]:
    """One ring slice: (uint8 image (size, size), polygon [[x, y], ...] or None)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    distance = np.hypot(rows - centre[0], cols - centre[1])
    angle = np.degrees(np.arctan2(rows - centre[0], cols - centre[1])) % 360
    ring = np.exp(-0.5 * ((distance - radius) / (thickness / 2.5)) ** 2)
    polygon = None
    if defect is not None:
        start, width = defect
        inside = ((angle - start) % 360) < width
        ring = np.where(inside, 0.25 * ring, ring)
        angles = np.radians(np.linspace(start, start + width, 8))
        outer = [
            (
                centre[1] + (radius + thickness) * np.cos(a),
                centre[0] + (radius + thickness) * np.sin(a),
            )
            for a in angles
        ]
        inner = [
            (
                centre[1] + (radius - thickness) * np.cos(a),
                centre[0] + (radius - thickness) * np.sin(a),
            )
            for a in angles[::-1]
        ]
        polygon = [[float(x), float(y)] for x, y in outer + inner]
    image = 200 * ring + rng.normal(8, 3, size=(size, size))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), polygon


def labelme_json(polygon: list[list[float]], image_name: str, size: int) -> dict:
    """A labelme 5.x file with one 'ischemia' polygon."""
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": [
            {
                "label": "ischemia",
                "points": polygon,
                "group_id": None,
                "description": "",
                "shape_type": "polygon",
                "flags": {},
                "mask": None,
            }
        ],
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": size,
        "imageWidth": size,
    }


def write_ring_dataset(
    root: Path,
    *,
    patients: int = 6,
    images_per_patient: int = 6,
    size: int = 48,
    seed: int = 0,
) -> pd.DataFrame:
    """Write a labelme-export dataset of ring slices; return the truth table.

    Returns:
        One row per image: patient_id, image, label, centre_row, centre_col.
    """
    rng = np.random.default_rng(seed)
    truth = []
    for p in range(1, patients + 1):
        patient = f"P{p:03d}"
        folder = root / patient
        folder.mkdir(parents=True)
        labels = []
        for i in range(images_per_patient):
            name = f"slice_{i:02d}.png"
            centre = (
                size / 2 + rng.uniform(-size / 8, size / 8),
                size / 2 + rng.uniform(-size / 8, size / 8),
            )
            label = int(i % 2 == 1)
            defect = (float(rng.uniform(0, 360)), 80.0) if label else None
            image, polygon = ring_image(
                size, centre, radius=size / 6, thickness=size / 16, defect=defect, rng=rng
            )
            write_png(folder / name, image)
            if polygon is not None:
                (folder / name.replace(".png", ".json")).write_text(
                    json.dumps(labelme_json(polygon, name, size)), encoding="utf-8"
                )
            labels.append({"image": name, "label": label})
            truth.append(
                {
                    "patient_id": patient,
                    "image": name,
                    "label": label,
                    "centre_row": centre[0],
                    "centre_col": centre[1],
                }
            )
        write_label_csv(folder / "labels.csv", pd.DataFrame(labels))
    return pd.DataFrame(truth)
