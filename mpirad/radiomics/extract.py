"""One interface to every engine: :func:`extract_features`.

Images and masks are ``(z, y, x)`` arrays with voxel spacing in mm ``(z, y, x)``. By
default no resampling, re-segmentation or intensity rounding is done (Study B, section
2.3); settings that ask for them are applied here, once, by
:func:`mpirad.radiomics.preprocess.preprocess_roi` before the engine is called.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mpirad.radiomics.engines import ENGINES
from mpirad.radiomics.engines.base import FeatureRow, Roi
from mpirad.radiomics.ibsi import FAMILIES, ibsi_code
from mpirad.radiomics.preprocess import preprocess_roi
from mpirad.radiomics.settings import ExtractionSettings

#: Columns of a feature table returned by :func:`extract_features`.
FEATURE_COLUMNS: tuple[str, ...] = (
    "family",
    "name",
    "ibsi_code",
    "aggregation",
    "value",
    "engine",
    "discretisation",
    "n_bins",
    "bin_width",
)


def validate_roi(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    what: str = "ROI",
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Check an image / mask / spacing triple and return them normalised.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` binary mask (bool, or numbers that are all 0 or 1).
        spacing: voxel size in mm, ``(z, y, x)``.
        what: how to name the ROI in error messages (e.g. ``"patient P001, ROI LAD17"``).

    Returns:
        ``(image as float64, mask as bool, spacing as a float triple)``.

    Raises:
        ValueError: for a non-3D image, a shape mismatch, a non-binary or empty mask,
            non-finite intensities inside the mask, a bad spacing, or an image that is
            constant inside the mask (a single-voxel mask included): texture features are
            then undefined, and engines disagree on the values they return.
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 3:
        raise ValueError(f"{what}: image must be 3D (z, y, x), got shape {image.shape}")
    if mask.shape != image.shape:
        raise ValueError(f"{what}: mask shape {mask.shape} differs from image shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{what}: image must be real-valued, got dtype {image.dtype}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.number):
            raise ValueError(f"{what}: mask must be boolean or numeric, got dtype {mask.dtype}")
        values = np.unique(mask)
        if not np.all(np.isin(values, (0, 1))):
            shown = ", ".join(f"{v:g}" for v in values[:6])
            raise ValueError(
                f"{what}: mask is not binary (values {shown}{' ...' if values.size > 6 else ''})"
            )
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"{what}: mask is empty (no voxel inside the ROI)")
    if len(spacing) != 3:
        raise ValueError(
            f"{what}: spacing must have 3 values (z, y, x) in mm, got {tuple(spacing)}"
        )
    spacing_triple = tuple(float(s) for s in spacing)
    if not all(math.isfinite(s) and s > 0 for s in spacing_triple):
        raise ValueError(f"{what}: spacing must be positive and finite, got {spacing_triple}")
    image = image.astype(np.float64, copy=False)
    inside = image[mask]
    if not np.all(np.isfinite(inside)):
        raise ValueError(f"{what}: image has non-finite intensities inside the mask")
    if inside.min() == inside.max():
        raise ValueError(
            f"{what}: image is constant ({inside[0]:g}) on all {inside.size} voxel(s) of the "
            "mask; texture features are undefined (a single-voxel mask, or a blank image?)"
        )
    return image, mask, spacing_triple  # type: ignore[return-value]


def resolve_families(engine: str, families: Sequence[str] | str | None) -> tuple[str, ...]:
    """The family ids to compute, in IBSI order (``None``: all the engine supports).

    Raises:
        ValueError: an unknown engine or family, or a family the engine lacks.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}")
    supported = ENGINES[engine].SUPPORTED_FAMILIES
    if families is None:
        return tuple(supported)
    if isinstance(families, str):
        families = (families,)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; known: {list(FAMILIES)}")
    missing = [f for f in families if f not in supported]
    if missing:
        raise ValueError(
            f"engine {engine!r} does not compute {missing}; it computes {list(supported)}"
        )
    return tuple(f for f in FAMILIES if f in families)


def code_or_none(family: str, name: str) -> str | None:
    """The IBSI code of a feature, ``None`` for an engine-specific feature."""
    try:
        return ibsi_code(family, name)
    except KeyError:
        return None  # an engine-specific feature without IBSI counterpart


def _to_frame(
    rows_per_setting: Sequence[list[FeatureRow]],
    engine: str,
    settings_list: Sequence[ExtractionSettings],
) -> pd.DataFrame:
    """One feature table from the rows computed under each of ``settings_list``."""
    rows = [row for setting_rows in rows_per_setting for row in setting_rows]
    lengths = [len(r) for r in rows_per_setting]
    frame = pd.DataFrame(
        {
            "family": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "ibsi_code": pd.array([code_or_none(r[0], r[1]) for r in rows], dtype="string"),
            "aggregation": [r[2] for r in rows],
            "value": np.array([r[3] for r in rows], dtype=np.float64),
            "engine": engine,
        }
    )
    columns = [s.as_columns() for s in settings_list]
    frame["discretisation"] = np.repeat([c["discretisation"] for c in columns], lengths)
    frame["n_bins"] = pd.array(
        np.repeat([c["n_bins"] for c in columns], lengths).tolist(), dtype="Int64"
    )
    frame["bin_width"] = pd.array(
        np.repeat([c["bin_width"] for c in columns], lengths).tolist(), dtype="Float64"
    )
    return frame.loc[:, list(FEATURE_COLUMNS)]


def processed_roi(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    settings: ExtractionSettings,
    *,
    what: str = "ROI",
) -> Roi:
    """The engine input: the validated ROI after the image processing of ``settings``.

    Without processing (the default) the ROI is passed through unchanged. Otherwise the
    processed ROI is validated again (re-segmentation may leave it empty or constant).
    """
    if not settings.has_processing:
        return Roi(image, mask, spacing)
    processed = preprocess_roi(image, mask, spacing, settings)
    new_image, new_mask, new_spacing = validate_roi(
        processed.image, processed.mask, processed.spacing, what=f"{what} (after processing)"
    )
    return Roi(
        new_image,
        new_mask,
        new_spacing,
        morphology_mask=processed.morphology_mask,
        intensity_range=processed.intensity_range,
    )


def compute_feature_rows(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    settings_list: Sequence[ExtractionSettings],
    engine: str,
    families: tuple[str, ...],
    *,
    what: str = "ROI",
) -> list[list[FeatureRow]]:
    """Raw ``(family, name, aggregation, value)`` rows per setting (inputs already valid).

    Settings with the same image processing share one processed ROI, and the engine may
    share work between them (the ``numpy`` engine prepares the ROI geometry once).
    """
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, settings in enumerate(settings_list):
        groups.setdefault(settings.processing, []).append(index)
    rows: list[list[FeatureRow]] = [[] for _ in settings_list]
    for indices in groups.values():
        roi = processed_roi(image, mask, spacing, settings_list[indices[0]], what=what)
        group = [settings_list[i] for i in indices]
        for index, group_rows in zip(
            indices, ENGINES[engine].compute_many(roi, group, families), strict=True
        ):
            rows[index] = group_rows
    return rows


def extract_features(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    n_bins: int | None = None,
    bin_width: float | None = None,
    engine: str = "mirp",
    families: Sequence[str] | str | None = None,
    settings: ExtractionSettings | None = None,
) -> pd.DataFrame:
    """Compute IBSI radiomic features of one ROI.

    Args:
        image: ``(z, y, x)`` intensities (any real dtype; arbitrary units).
        mask: ``(z, y, x)`` binary ROI mask, same shape as ``image``.
        spacing: voxel size in mm, ``(z, y, x)``.
        n_bins: fixed bin number (Study B: 4, 8, ..., 512).
        bin_width: fixed bin size in intensity units (IBSI digital phantom: 1).
        engine: ``"mirp"`` (IBSI reference implementation, all families),
            ``"pyradiomics"`` or ``"numpy"`` (fast; the families Study B keeps).
        families: IBSI family ids (``"morph"``, ``"loc"``, ``"stat"``, ``"ih"``,
            ``"ivh"``, ``"cm"``, ``"rlm"``, ``"szm"``, ``"dzm"``, ``"ngt"``, ``"ngl"``);
            ``None`` = all the engine supports.
        settings: full settings, including the IBSI image processing (resampling,
            rounding, re-segmentation: :mod:`mpirad.radiomics.preprocess`); when given,
            ``n_bins`` / ``bin_width`` must be ``None`` and its ``families`` is used
            unless ``families`` is given.

    Returns:
        One row per feature with columns :data:`FEATURE_COLUMNS`: ``family``, ``name``,
        ``ibsi_code`` (4-character IBSI identifier; empty for engine-specific features),
        ``aggregation`` (IBSI method and code, e.g. ``"3D averaged (ITBB)"``), ``value``,
        ``engine`` and the settings (``discretisation``, ``n_bins``, ``bin_width``).

    Raises:
        ValueError: for bad inputs (see :func:`validate_roi`), an unknown engine or
            family, a family the engine lacks, or inconsistent discretisation settings.
    """
    if settings is None:
        settings = ExtractionSettings(n_bins=n_bins, bin_width=bin_width)
    elif n_bins is not None or bin_width is not None:
        raise ValueError(
            "pass the discretisation either in settings or as n_bins/bin_width, not both"
        )
    chosen = resolve_families(engine, families if families is not None else settings.families)
    image, mask, spacing_triple = validate_roi(image, mask, spacing)
    rows = compute_feature_rows(image, mask, spacing_triple, [settings], engine, chosen)
    return _to_frame(rows, engine, [settings])


def extract_features_multi(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    settings_list: Sequence[ExtractionSettings],
    *,
    engine: str = "mirp",
    families: Sequence[str] | str | None = None,
    what: str = "ROI",
) -> pd.DataFrame:
    """Features of one ROI under several settings (e.g. the eight bin numbers).

    With the ``numpy`` engine the ROI geometry is prepared once and reused for every
    setting; other engines are called once per setting.

    Args:
        image, mask, spacing: as in :func:`extract_features`.
        settings_list: one settings object per discretisation.
        engine: engine name.
        families: IBSI family ids (``None`` = all the engine supports).
        what: ROI name for error messages.

    Returns:
        The concatenated feature tables (columns :data:`FEATURE_COLUMNS`).
    """
    chosen = resolve_families(engine, families)
    image, mask, spacing_triple = validate_roi(image, mask, spacing, what=what)
    rows = compute_feature_rows(
        image, mask, spacing_triple, settings_list, engine, chosen, what=what
    )
    return _to_frame(rows, engine, settings_list)
