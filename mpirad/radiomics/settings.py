"""Feature extraction settings (a small frozen dataclass, modelled on mirp's settings).

Study B discretises with a fixed bin *number* (4 ... 512 bins); the IBSI digital phantom is
computed with a fixed bin *size* of 1. No resampling, re-segmentation or rounding is done
(the paper's section 2.3), and texture matrices use Chebyshev distance 1 with NGLDM
coarseness 0, as in every IBSI configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mpirad.radiomics.ibsi import DISCRETISED_FAMILIES, FAMILIES


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
    """

    n_bins: int | None = None
    bin_width: float | None = None
    bin_lower_bound: float | None = None
    families: tuple[str, ...] | None = None
    glcm_distance: int = 1
    ngldm_alpha: float = 0.0
    ivh_discretise: bool = True

    def __post_init__(self) -> None:
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
