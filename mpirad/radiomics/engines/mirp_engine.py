"""The ``mirp`` engine: mirp 2.x, the IBSI reference implementation (Zwanenburg et al.).

mirp computes all eleven IBSI families. mpirad asks it for the 3D aggregations only
(GLCM/GLRLM 3D averaged and 3D merged; GLSZM, GLDZM, NGTDM, NGLDM 3D), without
resampling (done before, by :mod:`mpirad.radiomics.preprocess`), and maps its feature table names (``cm_joint_max_d1_3d_avg
_fbn_n64``) back to IBSI family / name / aggregation.

Known deviations and conventions:

- mirp's NumPy input ignores voxel spacing, so the image and mask are passed as temporary
  NIfTI files that carry the spacing (morphology is in mm).
- Fixed bin size needs the lower bound of the first bin; mpirad passes it as a one-sided
  re-segmentation range ``[lower, inf)``, which removes no voxel when ``lower`` is the ROI
  minimum (the default).
- After IBSI re-segmentation mirp receives the processed image and the morphological mask
  (the ROI before re-segmentation) with the same range / outlier rule, which it applies
  to that mask as mpirad did, so that morphology uses the morphological mask and every
  other family the same intensity mask as the other engines.
- Intensity-volume histograms use the texture discretisation (``ivh_discretise``), or
  mirp's ``"none"`` method on integer images, which mirp only honours for CT: the image
  is then declared CT (mirp rounds CT intensities, a no-op on integers).
- Per call mirp costs about 0.3-0.6 s for the discretised families of a 1,500-voxel ROI
  (and seconds with morphology), dominated by pandas bookkeeping; see the ``numpy`` engine.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np

from mpirad.radiomics.engines.base import FeatureEngine, FeatureRow, Roi
from mpirad.radiomics.ibsi import (
    AGG_3D,
    AGG_3D_AVERAGED,
    AGG_3D_MERGED,
    AGG_3D_VOLUME,
    FAMILIES,
    FEATURE_DEFINITIONS,
)
from mpirad.radiomics.settings import ExtractionSettings

#: Families this engine computes (all IBSI families).
SUPPORTED_FAMILIES: tuple[str, ...] = tuple(FAMILIES)

_MIRP_FAMILY_TAG = {
    "morph": "morph",
    "loc": "li",
    "stat": "st",
    "ih": "ih",
    "ivh": "ivh",
    "cm": "cm",
    "rlm": "rlm",
    "szm": "szm",
    "dzm": "dzm",
    "ngt": "ngtdm",
    "ngl": "ngldm",
}

_NAMES_BY_FAMILY: dict[str, list[str]] = {}
for _family, _name, _code, _label in FEATURE_DEFINITIONS:
    _NAMES_BY_FAMILY.setdefault(_family, []).append(_name)


def parse_mirp_column(column: str) -> tuple[str, str, str] | None:
    """Map a mirp feature-table column to ``(family, name, aggregation)``.

    Args:
        column: e.g. ``"cm_joint_max_d1_3d_avg_fbn_n64"`` or ``"ivh_v10"``.

    Returns:
        The IBSI identity, or ``None`` for columns that are not IBSI catalogue features
        (metadata, ``ivh_v25``, ``cm_mcc``, ...).
    """
    family, _, rest = column.partition("_")
    if family not in _NAMES_BY_FAMILY:
        return None
    candidates = [n for n in _NAMES_BY_FAMILY[family] if rest == n or rest.startswith(n + "_")]
    if not candidates:
        return None
    name = max(candidates, key=len)
    suffix = rest[len(name) :]
    if family in ("cm", "rlm"):
        if "_3d_avg" in suffix:
            return family, name, AGG_3D_AVERAGED
        if "_3d_v_mrg" in suffix:
            return family, name, AGG_3D_MERGED
        return None
    if family in ("szm", "dzm", "ngt", "ngl"):
        return (family, name, AGG_3D_VOLUME) if "_3d" in suffix else None
    if family == "ih" or family == "ivh":
        return family, name, AGG_3D
    return (family, name, AGG_3D) if suffix == "" else None


def _write_nifti(path: Path, array: np.ndarray, spacing: tuple[float, float, float]) -> None:
    """Write a (z, y, x) array as NIfTI (x, y, z) with the voxel size in the affine."""
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    nib.save(
        nib.Nifti1Image(np.ascontiguousarray(np.transpose(array, (2, 1, 0))), affine), str(path)
    )


def mirp_range(settings: ExtractionSettings, intensities: np.ndarray) -> list[float] | None:
    """mirp's ``resegmentation_intensity_range``: the settings' range, and for fixed bin
    size the lower bound of the first bin (mirp takes it from that range).

    Args:
        settings: the extraction settings.
        intensities: the ROI intensities (intensity mask).

    Returns:
        ``[low, high]`` with NaN for an open end, or ``None`` when mirp needs none.

    Raises:
        ValueError: a fixed-bin-size lower bound that differs from a finite lower
            threshold (mirp cannot express both).
    """
    low, high = settings.resegment_range or (-np.inf, np.inf)
    uses_fbs = settings.bin_width is not None or settings.ivh_bin_width is not None
    if uses_fbs:
        bound = (
            settings.bin_lower_bound
            if settings.bin_width
            else settings.ivh_settings().bin_lower_bound
        )
        lower = float(intensities.min()) if bound is None else float(bound)
        if np.isfinite(low) and not np.isclose(lower, low):
            raise ValueError(
                f"mirp takes the fixed-bin-size lower bound from its re-segmentation range: "
                f"a bin lower bound of {lower:g} with a lower threshold of {low:g} is not possible"
            )
        low = lower
    if not np.isfinite(low) and not np.isfinite(high):
        return None
    return [
        float(low) if np.isfinite(low) else np.nan,
        float(high) if np.isfinite(high) else np.nan,
    ]


def _mirp_arguments(
    settings: ExtractionSettings,
    families: tuple[str, ...],
    intensities: np.ndarray,
    resegment: bool = False,
) -> dict:
    arguments: dict = {
        "base_feature_families": [_MIRP_FAMILY_TAG[f] for f in families],
        "glcm_spatial_method": ["3d_average", "3d_volume_merge"],
        "glrlm_spatial_method": ["3d_average", "3d_volume_merge"],
        "glszm_spatial_method": "3d",
        "gldzm_spatial_method": "3d",
        "ngtdm_spatial_method": "3d",
        "ngldm_spatial_method": "3d",
        "glcm_distance": float(settings.glcm_distance),
        "ngldm_distance": 1.0,
        "ngldm_difference_level": float(settings.ngldm_alpha),
        "ibsi_compliant": False,  # keeps the IVH area under the curve (no IBSI reference value)
        "by_slice": False,
    }
    if settings.n_bins is not None:
        arguments["base_discretisation_method"] = "fixed_bin_number"
        arguments["base_discretisation_n_bins"] = int(settings.n_bins)
        if settings.ivh_discretise:
            arguments["ivh_discretisation_method"] = "fixed_bin_number"
            arguments["ivh_discretisation_n_bins"] = int(settings.n_bins)
    elif settings.bin_width is not None:
        arguments["base_discretisation_method"] = "fixed_bin_size"
        arguments["base_discretisation_bin_width"] = float(settings.bin_width)
        if settings.ivh_discretise:
            arguments["ivh_discretisation_method"] = "fixed_bin_size"
            arguments["ivh_discretisation_bin_width"] = float(settings.bin_width)
    if settings.ivh_n_bins is not None:
        arguments["ivh_discretisation_method"] = "fixed_bin_number"
        arguments["ivh_discretisation_n_bins"] = int(settings.ivh_n_bins)
    elif settings.ivh_bin_width is not None:
        arguments["ivh_discretisation_method"] = "fixed_bin_size"
        arguments["ivh_discretisation_bin_width"] = float(settings.ivh_bin_width)
    resegmentation = mirp_range(settings, intensities)
    if resegmentation is not None:
        arguments["resegmentation_intensity_range"] = resegmentation
    if settings.resegment_outliers_sd is not None and resegment:
        arguments["resegmentation_sigma"] = float(settings.resegment_outliers_sd)
    if not settings.ivh_discretise:
        # mirp applies "none" (one bin per integer intensity) only to CT images; CT import
        # rounds intensities, which is harmless here because this mode requires integers.
        if not np.allclose(intensities, np.round(intensities)):
            raise ValueError("ivh_discretise=False needs integer intensities")
        arguments["ivh_discretisation_method"] = "none"
        arguments["image_modality"] = "CT"
    return arguments


@contextlib.contextmanager
def _quiet_mirp() -> Iterator[None]:
    """Silence mirp's progress logging and warnings for the duration of a call.

    mirp calls ``logging.basicConfig(level=INFO, stream=stdout)`` and logs on the root
    logger; a temporary NullHandler makes that a no-op and the raised level drops the
    messages. Both are restored afterwards.
    """
    root = logging.getLogger()
    null_handler = logging.NullHandler()
    previous_level = root.level
    root.addHandler(null_handler)
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(null_handler)
        root.setLevel(previous_level)


class MirpEngine(FeatureEngine):
    """The ``mirp`` engine (see the module docstring)."""

    name = "mirp"
    SUPPORTED_FAMILIES = SUPPORTED_FAMILIES

    def compute(
        self, roi: Roi, settings: ExtractionSettings, families: tuple[str, ...]
    ) -> list[FeatureRow]:
        """Compute the features with mirp: NIfTI files in, mirp's table mapped to IBSI."""
        import mirp

        settings.require_discretisation(families)
        with tempfile.TemporaryDirectory(prefix="mpirad-mirp-") as folder:
            image_path = Path(folder) / "image.nii.gz"
            mask_path = Path(folder) / "mask.nii.gz"
            _write_nifti(image_path, np.asarray(roi.image, dtype=np.float64), roi.spacing)
            # one mask file cannot carry both masks: after re-segmentation mirp gets the
            # morphological mask and re-segments it with the same range / SD rule (computed
            # on the same mask), so that its morphology uses the ROI before re-segmentation
            resegment = roi.morphology_mask is not None
            mirp_mask = roi.morphology_mask if resegment else roi.mask
            _write_nifti(mask_path, np.asarray(mirp_mask, dtype=np.uint8), roi.spacing)
            intensities = np.asarray(roi.image)[np.asarray(roi.mask, bool)]
            arguments = _mirp_arguments(settings, families, intensities, resegment)
            with _quiet_mirp():
                tables = mirp.extract_features(
                    image=str(image_path),
                    mask=str(mask_path),
                    export_features=True,
                    write_features=False,
                    verbose=False,
                    **arguments,
                )
        table = tables[0]
        rows: list[FeatureRow] = []
        for column in table.columns:
            identity = parse_mirp_column(column)
            if identity is not None:
                rows.append((*identity, float(table[column].iloc[0])))
        return rows
