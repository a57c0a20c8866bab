"""Feature extraction settings (a small frozen dataclass, modelled on mirp's settings).

Study B discretises with a fixed bin *number* (4 ... 512 bins); the IBSI digital phantom is
computed with a fixed bin *size* of 1. By default no resampling, re-segmentation or rounding
is done (the paper's section 2.3); the IBSI image processing steps (resampling to isotropic
voxels, intensity rounding, re-segmentation by range and by outliers) are optional fields,
applied once by :mod:`mpirad.radiomics.preprocess` before any engine. Texture matrices use
Chebyshev distance 1 with NGLDM coarseness 0, as in every IBSI configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mpirad.radiomics.ibsi import DISCRETISED_FAMILIES, FAMILIES

#: Spline order of :func:`scipy.ndimage.map_coordinates` per image interpolation.
INTERPOLATION_ORDERS: dict[str, int] = {"linear": 1, "cubic": 3}


@dataclass(frozen=True)
class ExtractionSettings:
    """How features are computed.

    Exactly one of ``n_bins`` and ``bin_width`` is set for families that need
    discretisation (:data:`mpirad.radiomics.ibsi.DISCRETISED_FAMILIES`).

    Attributes:
        n_bins: fixed bin number (IBSI FBN): intensities in the ROI are mapped to
            ``1..n_bins`` by ``floor(n_bins * (x - min) / (max - min)) + 1`` (the maximum
            goes to the top bin).
        bin_width: fixed bin size (IBSI FBS), in image intensity units:
            ``floor((x - bin_lower_bound) / bin_width) + 1``.
        bin_lower_bound: lower edge of the first bin for ``bin_width``; ``None`` uses
            the lowest intensity in the ROI.
        families: family ids to compute (see :data:`mpirad.radiomics.ibsi.FAMILIES`);
            ``None`` = every family the engine supports.
        glcm_distance: GLCM neighbour (Chebyshev) distance in voxels.
        ngldm_alpha: NGLDM coarseness parameter (grey-level difference still counted as
            dependent).
        ivh_discretise: discretise intensity-volume histograms with the same bins as the
            intensity histogram (the arbitrary-unit case of the IBSI manual). ``False``
            uses the raw intensities, which is only meaningful for integer-valued images
            such as the IBSI phantom.
        ivh_n_bins, ivh_bin_width: discretise the intensity-volume histogram with its own
            fixed bin number or bin size (IBSI CT configurations C: 2.5 HU, E: 1000 bins);
            ``None`` for both uses the texture bins (``ivh_discretise``).
        resample_spacing_mm: resample image and mask to isotropic voxels of this size (mm)
            on the IBSI grid (grid centres aligned); ``None``: no resampling.
        interpolation: image interpolation for resampling, ``"linear"`` or ``"cubic"``
            (B-spline); the mask is always interpolated linearly.
        mask_threshold: partial-volume threshold of the interpolated mask (IBSI: 0.5).
        round_intensities: round intensities to integers after interpolation (IBSI, CT).
        resegment_range: ``(low, high)`` intensity range kept in the ROI (inclusive; either
            may be infinite); for fixed bin size a finite ``low`` is the default lower
            bound of the first bin. ``None``: no range re-segmentation.
        resegment_outliers_sd: drop ROI voxels beyond mean +- k standard deviations (mean
            and SD of the ROI before re-segmentation); ``None``: no outlier filtering.
    """

    n_bins: int | None = None
    bin_width: float | None = None
    bin_lower_bound: float | None = None
    families: tuple[str, ...] | None = None
    glcm_distance: int = 1
    ngldm_alpha: float = 0.0
    ivh_discretise: bool = True
    ivh_n_bins: int | None = None
    ivh_bin_width: float | None = None
    resample_spacing_mm: float | None = None
    interpolation: str = "linear"
    mask_threshold: float = 0.5
    round_intensities: bool = False
    resegment_range: tuple[float, float] | None = None
    resegment_outliers_sd: float | None = None

    def __post_init__(self) -> None:
        self._check_discretisation()
        self._check_processing()
        if self.bin_width is not None and self.bin_lower_bound is None:
            # IBSI: fixed bin size starts at the lower end of the re-segmentation range
            object.__setattr__(self, "bin_lower_bound", self.range_lower_bound)

    def _check_discretisation(self) -> None:
        if self.n_bins is not None and self.bin_width is not None:
            raise ValueError(
                "give either n_bins (fixed bin number) or bin_width (fixed bin size), not both"
            )
        if self.n_bins is not None and (
            isinstance(self.n_bins, bool) or int(self.n_bins) != self.n_bins or self.n_bins < 1
        ):
            raise ValueError(f"n_bins must be a positive integer, got {self.n_bins!r}")
        if self.bin_width is not None and not (
            math.isfinite(self.bin_width) and self.bin_width > 0
        ):
            raise ValueError(f"bin_width must be a positive finite number, got {self.bin_width!r}")
        if self.bin_lower_bound is not None and self.bin_width is None:
            raise ValueError("bin_lower_bound only applies with bin_width (fixed bin size)")
        if self.families is not None:
            if isinstance(self.families, str):
                object.__setattr__(self, "families", (self.families,))
            unknown = [f for f in self.families if f not in FAMILIES]
            if unknown:
                raise ValueError(f"unknown feature families {unknown}; known: {list(FAMILIES)}")
            object.__setattr__(self, "families", tuple(self.families))
        if self.glcm_distance != 1:
            raise ValueError(
                "only Chebyshev distance 1 is supported (the IBSI and Study B setting)"
            )
        if self.ngldm_alpha < 0:
            raise ValueError(f"ngldm_alpha must be >= 0, got {self.ngldm_alpha!r}")
        if (self.ivh_n_bins is not None or self.ivh_bin_width is not None) and not (
            self.ivh_discretise
        ):
            raise ValueError("ivh_n_bins / ivh_bin_width need ivh_discretise=True")
        if self.ivh_n_bins is not None and self.ivh_bin_width is not None:
            raise ValueError("give either ivh_n_bins or ivh_bin_width, not both")
        if self.ivh_n_bins is not None and (
            int(self.ivh_n_bins) != self.ivh_n_bins or self.ivh_n_bins < 1
        ):
            raise ValueError(f"ivh_n_bins must be a positive integer, got {self.ivh_n_bins!r}")
        if self.ivh_bin_width is not None and not (
            math.isfinite(self.ivh_bin_width) and self.ivh_bin_width > 0
        ):
            raise ValueError(
                f"ivh_bin_width must be positive and finite, got {self.ivh_bin_width!r}"
            )

    def _check_processing(self) -> None:
        spacing = self.resample_spacing_mm
        if spacing is not None and not (math.isfinite(spacing) and spacing > 0):
            raise ValueError(f"resample_spacing_mm must be positive and finite, got {spacing!r}")
        if self.interpolation not in INTERPOLATION_ORDERS:
            raise ValueError(
                f"interpolation must be one of {list(INTERPOLATION_ORDERS)}, "
                f"got {self.interpolation!r}"
            )
        if not 0 < self.mask_threshold <= 1:
            raise ValueError(f"mask_threshold must be in (0, 1], got {self.mask_threshold!r}")
        if self.resegment_range is not None:
            low, high = (float(v) for v in self.resegment_range)
            if math.isnan(low) or math.isnan(high) or not low < high:
                raise ValueError(
                    f"resegment_range must be (low, high) with low < high, got {self.resegment_range!r}"
                )
            object.__setattr__(self, "resegment_range", (low, high))
        sd = self.resegment_outliers_sd
        if sd is not None and not (math.isfinite(sd) and sd > 0):
            raise ValueError(f"resegment_outliers_sd must be positive and finite, got {sd!r}")

    @property
    def processing(self) -> tuple[object, ...]:
        """The image processing fields as a hashable key (equal keys: same processing)."""
        return (
            self.resample_spacing_mm,
            self.interpolation,
            self.mask_threshold,
            self.round_intensities,
            self.resegment_range,
            self.resegment_outliers_sd,
        )

    @property
    def has_processing(self) -> bool:
        """Whether any resampling, rounding or re-segmentation is asked for."""
        return (
            self.resample_spacing_mm is not None
            or self.round_intensities
            or self.resegment_range is not None
            or self.resegment_outliers_sd is not None
        )

    def processing_description(self) -> dict[str, object]:
        """The image processing fields by name (for cache keys and records)."""
        return {
            "resample_spacing_mm": self.resample_spacing_mm,
            "interpolation": self.interpolation,
            "mask_threshold": self.mask_threshold,
            "round_intensities": self.round_intensities,
            "resegment_range": None if self.resegment_range is None else list(self.resegment_range),
            "resegment_outliers_sd": self.resegment_outliers_sd,
        }

    def ivh_settings(self) -> ExtractionSettings:
        """The discretisation of the intensity-volume histogram: its own bins when
        ``ivh_n_bins`` / ``ivh_bin_width`` is set, else these settings."""
        if self.ivh_n_bins is not None:
            return replace(self, n_bins=self.ivh_n_bins, bin_width=None, bin_lower_bound=None,
                           ivh_n_bins=None)  # fmt: skip
        if self.ivh_bin_width is not None:
            return replace(
                self,
                n_bins=None,
                bin_width=self.ivh_bin_width,
                bin_lower_bound=self.bin_lower_bound if self.bin_width else self.range_lower_bound,
                ivh_bin_width=None,
            )
        return self

    @property
    def range_lower_bound(self) -> float | None:
        """The finite lower end of ``resegment_range`` (``None`` if absent or infinite)."""
        if self.resegment_range is None or not math.isfinite(self.resegment_range[0]):
            return None
        return self.resegment_range[0]

    @property
    def discretisation(self) -> str:
        """``"FBN"`` (fixed bin number), ``"FBS"`` (fixed bin size) or ``"none"``."""
        if self.n_bins is not None:
            return "FBN"
        if self.bin_width is not None:
            return "FBS"
        return "none"

    def require_discretisation(self, families: tuple[str, ...]) -> None:
        """Raise ``ValueError`` if any of ``families`` needs bins and none are set."""
        needing = [f for f in families if f in DISCRETISED_FAMILIES]
        if needing and self.discretisation == "none":
            raise ValueError(f"families {needing} need n_bins or bin_width to be set")

    def as_columns(self) -> dict[str, object]:
        """The settings as the extra columns of a feature table."""
        return {
            "discretisation": self.discretisation,
            "n_bins": self.n_bins,
            "bin_width": self.bin_width,
        }


def dataset_settings(source: object) -> ExtractionSettings:
    """The image processing a manifest dataset asks for (``resample``, ``resegment``).

    Args:
        source: a :class:`mpirad.manifest.Dataset`; anything else (a folder, a layout)
            has no manifest entry and gets the default (no processing).

    Returns:
        :class:`ExtractionSettings` with the dataset's resampling and re-segmentation
        (its discretisation fields stay at their defaults; the caller sets them).
    """
    entry = getattr(source, "entry", None)
    resample = getattr(entry, "resample", None)
    resegment = getattr(entry, "resegment", None)
    options: dict = {}
    if resample is not None:
        options.update(
            resample_spacing_mm=resample.spacing_mm, interpolation=resample.interpolation
        )
    if resegment is not None:
        options.update(
            resegment_range=None if resegment.range is None else tuple(resegment.range),
            resegment_outliers_sd=resegment.outliers_sd,
        )
    return ExtractionSettings(**options)
