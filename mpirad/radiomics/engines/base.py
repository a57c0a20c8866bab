"""The interface every feature engine implements: :class:`FeatureEngine`.

An engine turns one ROI (image, mask, voxel spacing) and one discretisation into IBSI
feature rows ``(family, name, aggregation, value)``. :mod:`mpirad.radiomics.extract`
validates the inputs and resolves the families before it calls an engine, and turns the
rows into a feature table.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mpirad.radiomics.settings import ExtractionSettings

#: One computed feature: ``(family, name, aggregation, value)``.
FeatureRow = tuple[str, str, str, float]


@dataclass(frozen=True)
class Roi:
    """One validated ROI (:func:`mpirad.radiomics.extract.validate_roi`).

    Attributes:
        image: ``(z, y, x)`` float64 intensities.
        mask: ``(z, y, x)`` boolean ROI, same shape, at least one voxel.
        spacing: voxel size in mm, ``(z, y, x)``.
        morphology_mask: after IBSI re-segmentation (:mod:`mpirad.radiomics.preprocess`),
            the ROI before re-segmentation, for morphology; ``None``: same as ``mask``.
        intensity_range: ``(low, high)`` re-segmentation thresholds that turned
            ``morphology_mask`` into ``mask`` (``-inf`` / ``inf`` where none); ``None``
            when no processing was done.
    """

    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]
    morphology_mask: np.ndarray | None = None
    intensity_range: tuple[float, float] | None = None


class FeatureEngine(abc.ABC):
    """A radiomics feature engine.

    Attributes:
        name: the engine name users pass (``engine="numpy"``); it is written into the
            feature table and the cache fingerprint.
        SUPPORTED_FAMILIES: the IBSI family ids the engine computes.
    """

    name: ClassVar[str]
    SUPPORTED_FAMILIES: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def compute(
        self, roi: Roi, settings: ExtractionSettings, families: tuple[str, ...]
    ) -> list[FeatureRow]:
        """Compute the features of one ROI at one discretisation.

        Args:
            roi: image, mask and spacing.
            settings: discretisation and texture parameters.
            families: IBSI family ids, a subset of :attr:`SUPPORTED_FAMILIES`.

        Returns:
            ``(family, name, aggregation, value)`` tuples.
        """

    def compute_many(
        self, roi: Roi, settings_list: Sequence[ExtractionSettings], families: tuple[str, ...]
    ) -> list[list[FeatureRow]]:
        """:meth:`compute` under each of ``settings_list`` (one list of rows per setting).

        Engines that can share work between discretisations override this.
        """
        return [self.compute(roi, s, families) for s in settings_list]
