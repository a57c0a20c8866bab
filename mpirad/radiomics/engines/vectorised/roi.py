"""The ROI geometry shared by every bin number, and the IBSI discretisation.

:func:`prepare_roi` computes once per ROI everything that depends only on its shape;
:func:`discretise` maps intensities to grey levels for one bin number or bin size.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mpirad.radiomics.settings import ExtractionSettings

#: The 13 unique 3D neighbour directions (dz, dy, dx) at Chebyshev distance 1.
DIRECTIONS_3D: tuple[tuple[int, int, int], ...] = tuple(
    d for d in itertools.product((-1, 0, 1), repeat=3) if d > (0, 0, 0)
)
N_DIRECTIONS = len(DIRECTIONS_3D)


@dataclass(frozen=True)
class RoiGeometry:
    """Per-ROI precomputation reused across bin numbers.

    Voxels of the ROI are numbered ``0..n_voxels-1`` in C order of the (z, y, x) array.

    Attributes:
        intensities: ``(n_voxels,)`` image intensities of the ROI voxels.
        box_shape: shape of the padded bounding box (z, y, x), 1 voxel of padding.
        box_index: ``(n_voxels,)`` flat index of each ROI voxel in the padded box.
        line_order: ``(13 * n_voxels,)`` voxel numbers, for each direction in turn, sorted
            along the direction's lines so that a voxel's ROI predecessor (voxel - d)
            comes right before it.
        line_direction: ``(13 * n_voxels,)`` direction index of each ``line_order`` entry.
        has_predecessor: ``(13 * n_voxels,)`` True where the previous ``line_order`` entry
            is the voxel's neighbour in that direction (both in the ROI).
        edge_from, edge_to: ``(n_edges,)`` voxel numbers of every pair of 26-neighbours in
            the ROI (each unordered pair once).
        edge_direction: ``(n_edges,)`` direction index of each edge.
        n_neighbours: ``(n_voxels,)`` number of 26-neighbours inside the ROI.
        border_distance: ``(n_voxels,)`` IBSI distance to the ROI border (6-connected
            steps; voxels on the border have distance 1).
    """

    intensities: np.ndarray
    box_shape: tuple[int, int, int]
    box_index: np.ndarray
    line_order: np.ndarray
    line_direction: np.ndarray
    has_predecessor: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_direction: np.ndarray
    n_neighbours: np.ndarray
    border_distance: np.ndarray

    @property
    def n_voxels(self) -> int:
        return int(self.intensities.size)


def prepare_roi(
    image: np.ndarray, mask: np.ndarray, morphology_mask: np.ndarray | None = None
) -> RoiGeometry:
    """Precompute everything about an ROI that does not depend on the discretisation.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` boolean ROI (the intensity mask), same shape, at least one voxel.
        morphology_mask: the ROI before re-segmentation, same shape; the distance to the
            border (GLDZM) is measured in it, as the IBSI prescribes. ``None``: ``mask``.

    Returns:
        The ROI geometry.
    """
    mask = np.asarray(mask, dtype=bool)
    coords = np.argwhere(mask)
    low = coords.min(axis=0)
    high = coords.max(axis=0) + 1
    crop = tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))
    box_mask = np.pad(mask[crop], 1)
    box_image = np.pad(np.asarray(image, dtype=np.float64)[crop], 1)
    box_shape = box_mask.shape
    box_index = np.flatnonzero(box_mask)
    n_voxels = box_index.size
    voxel_number = np.full(box_mask.size, -1, dtype=np.int64)
    voxel_number[box_index] = np.arange(n_voxels)
    zyx = np.stack(np.unravel_index(box_index, box_shape), axis=1)  # (n_voxels, 3)
    strides = np.array([box_shape[1] * box_shape[2], box_shape[2], 1])

    orders, predecessors = [], []
    edge_from, edge_to, edge_dir = [], [], []
    for direction_index, direction in enumerate(DIRECTIONS_3D):
        d = np.array(direction)
        axis = int(np.flatnonzero(d)[0])
        step = zyx[:, axis] * d[axis]  # increases by one per step along d
        line_key = zyx - step[:, None] * d[None, :]
        order = np.lexsort((step, line_key[:, 2], line_key[:, 1], line_key[:, 0]))
        predecessor = voxel_number[box_index - int(d @ strides)]  # voxel - d, -1 if outside
        orders.append(order)
        predecessors.append(predecessor[order] >= 0)
        has = predecessor >= 0
        edge_from.append(predecessor[has])
        edge_to.append(np.flatnonzero(has))
        edge_dir.append(np.full(int(has.sum()), direction_index))
    edge_from_arr = np.concatenate(edge_from)
    edge_to_arr = np.concatenate(edge_to)
    n_neighbours = np.bincount(edge_from_arr, minlength=n_voxels) + np.bincount(
        edge_to_arr, minlength=n_voxels
    )
    # IBSI distance to border: taxicab distance to the nearest voxel outside the ROI.
    if morphology_mask is None:
        border_distance = ndimage.distance_transform_cdt(box_mask, metric="taxicab").ravel()[
            box_index
        ]
    else:
        border_distance = morphological_border_distance(mask, morphology_mask)
    return RoiGeometry(
        intensities=box_image.ravel()[box_index],
        box_shape=box_shape,
        box_index=box_index,
        line_order=np.concatenate(orders),
        line_direction=np.repeat(np.arange(N_DIRECTIONS), n_voxels),
        has_predecessor=np.concatenate(predecessors),
        edge_from=edge_from_arr,
        edge_to=edge_to_arr,
        edge_direction=np.concatenate(edge_dir),
        n_neighbours=n_neighbours,
        border_distance=border_distance.astype(np.int64),
    )


def morphological_border_distance(mask: np.ndarray, morphology_mask: np.ndarray) -> np.ndarray:
    """``(n_voxels,)`` taxicab distance to the border of ``morphology_mask`` of each voxel
    of ``mask`` (C order), 1 on the border (the GLDZM distance after re-segmentation)."""
    morphology = np.asarray(morphology_mask, dtype=bool) | mask
    coords = np.argwhere(morphology)
    crop = tuple(
        slice(lo, hi) for lo, hi in zip(coords.min(axis=0), coords.max(axis=0) + 1, strict=True)
    )
    distance = ndimage.distance_transform_cdt(np.pad(morphology[crop], 1), metric="taxicab")
    return distance[1:-1, 1:-1, 1:-1][mask[crop]]


def discretise(intensities: np.ndarray, settings: ExtractionSettings) -> tuple[np.ndarray, int]:
    """IBSI discretisation of ROI intensities.

    Args:
        intensities: ``(n_voxels,)`` ROI intensities.
        settings: fixed bin number (``n_bins``) or fixed bin size (``bin_width``).

    Returns:
        ``(levels, n_levels)``: integer grey levels ``1..n_levels`` per voxel and the
        number of grey levels ``N_g`` (``n_bins`` for FBN; the highest level for FBS).
    """
    x = intensities
    if settings.n_bins is not None:
        n_bins = int(settings.n_bins)
        low, high = float(x.min()), float(x.max())
        if low < high:
            levels = np.floor(n_bins * 1.0 * (x - low) / (high - low)) + 1.0
        else:
            levels = np.full(x.shape, np.ceil(n_bins / 2.0))
        levels = np.clip(levels, 1.0, float(n_bins)).astype(np.int64)
        return levels, n_bins
    if settings.bin_width is not None:
        low = (
            float(x.min()) if settings.bin_lower_bound is None else float(settings.bin_lower_bound)
        )
        levels = np.floor((x - low) / float(settings.bin_width)) + 1.0
        levels = np.maximum(levels, 1.0).astype(np.int64)
        return levels, int(levels.max())
    raise ValueError("discretisation needs n_bins or bin_width")
