"""3D volumes and masks: NIfTI, NRRD, MATLAB ``.mat``, DICOM series and multi-frame DICOM.

Every reader returns a :class:`Volume` whose ``array`` is indexed ``(z, y, x)`` and whose
``spacing`` is the voxel size in millimetres in the same order ``(z, y, x)``.

Orientation convention: NIfTI and NRRD store arrays as ``(x, y, z)`` (first index fastest
in the file); mpirad transposes them to ``(z, y, x)`` without flipping any axis, so the
voxel at ``array[k, j, i]`` is the file's voxel ``(i, j, k)``. ``write_nifti`` does the
inverse, so a write/read round trip is exact. MATLAB matrices are taken with MATLAB's own
index order: ``A(k, j, i)`` in MATLAB is ``array[k, j, i]`` = ``(z, y, x)``, whether the file is
v5 (scipy) or v7.3 (HDF5, whose column-major storage h5py sees transposed; mpirad undoes it).
A MATLAB volume stored as ``A(row, column, slice)`` = ``(y, x, z)`` is read with
``mat_axes="yxz"``, which names the file's dimensions in order.

Geometry: every volume carries its voxel size, origin and direction cosines in the LPS
patient frame (:mod:`mpirad.io.volume`). NIfTI: the affine nibabel chooses (sform if its
code is set, else qform, else the voxel sizes), converted from RAS to LPS; the voxel size
is the header's ``pixdim`` unless the affine's column lengths disagree with it. NRRD:
``space directions`` and ``space origin`` in the file's ``space`` (``right-anterior-superior``
and ``left-anterior-superior`` converted to LPS). DICOM: ImageOrientationPatient and
ImagePositionPatient (:mod:`mpirad.io.dicom`). An affine or set of directions whose axes are
not orthogonal is refused.

Voxel size: NIfTI, DICOM and NRRD with ``space directions``/``spacings`` carry their own.
MATLAB files and bare NRRD files carry none; for them ``read_volume(spacing=...)`` supplies it
(a MATLAB ``spacing`` variable is used when no ``spacing`` is given), and without it
:class:`MissingSpacingError` names the file. A ``spacing`` argument never overrides a file's
own voxel size. Likewise ``origin``/``direction`` (LPS) place files that carry no
orientation (MATLAB, NRRD without ``space directions``); without them such a file has
origin 0 and the identity direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mpirad.io.volume import (
    IDENTITY_DIRECTION,
    MissingSpacingError,
    Volume,
    VolumeError,
    direction_tuple,
)

__all__ = ["MissingSpacingError", "Volume", "VolumeError", "read_volume", "write_nifti"]


_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NRRD_SUFFIXES = (".nrrd", ".nhdr")
#: A single DICOM file read as a volume: a multi-frame file (NM reconstruction, enhanced
#: CT/MR/PET) or a lone slice (see :func:`mpirad.io.dicom.read_dicom_series`).
DICOM_SUFFIXES = (".dcm", ".dicom")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*_NIFTI_SUFFIXES, *_NRRD_SUFFIXES, ".mat"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def read_volume(
    path: str | Path,
    *,
    variable: str | None = None,
    spacing: tuple[float, float, float] | None = None,
    mat_axes: str = "zyx",
    origin: tuple[float, float, float] | None = None,
    direction: tuple[float, ...] | None = None,
) -> Volume:
    """Read a 3D volume or mask as ``(z, y, x)`` with its geometry (LPS, mm).

    The format is chosen from the file name: NIfTI (``.nii``, ``.nii.gz``), NRRD
    (``.nrrd``, ``.nhdr``), MATLAB (``.mat``, v5 via scipy, v7.3 via h5py), a folder of
    DICOM files (a series) or a single DICOM file (``.dcm``, ``.dicom``: a multi-frame
    volume such as an NM reconstruction), both via :func:`mpirad.io.dicom.read_dicom_series`.

    Args:
        path: file (or DICOM folder) to read.
        variable: for ``.mat`` files, the variable holding the array (default: the only
            3D array in the file). Only this variable is loaded.
        spacing: the voxel size in mm ``(z, y, x)`` for files that carry none (``.mat``,
            NRRD without ``space directions``/``spacings``); ignored for files that carry
            their own. For ``.mat`` files a ``spacing`` variable is used when this is None.
        mat_axes: for ``.mat`` files, what the array's dimensions are, in order: a
            permutation of ``"zyx"`` (default: as stored), e.g. ``"yxz"`` for MATLAB's
            ``(row, column, slice)``. Ignored for other formats.
        origin: LPS ``(x, y, z)`` in mm of voxel ``[0, 0, 0]``, for files that carry no
            orientation (``.mat``, NRRD without ``space directions``); default 0.
        direction: 9 numbers, row-major 3x3 (SimpleITK's ``GetDirection``), for the same
            files; default the identity.

    Returns:
        The :class:`Volume` (geometry in LPS, see :mod:`mpirad.io.volume`).

    Raises:
        VolumeError: unreadable file, not 3D, unknown format, no such variable.
        MissingSpacingError: a file without voxel size and no ``spacing``.
    """
    path = Path(path)
    suffix = _suffix(path)
    if path.is_dir() or (suffix in DICOM_SUFFIXES and path.is_file()):
        from mpirad.io.dicom import read_dicom_series

        return read_dicom_series(path)
    if not path.exists():
        raise VolumeError(f"{path}: no such file")
    placed = _given_placement(path, origin, direction)
    try:
        if suffix in _NIFTI_SUFFIXES:
            vol = _read_nifti(path)
        elif suffix in _NRRD_SUFFIXES:
            vol = _read_nrrd(path, spacing=spacing, placed=placed)
        elif suffix == ".mat":
            vol = _read_mat(path, variable=variable, spacing=spacing, mat_axes=mat_axes)
            vol = Volume(vol.array, vol.spacing, vol.source, *placed)
        else:
            raise VolumeError(
                f"{path}: unknown volume format {suffix!r} "
                "(expected .nii, .nii.gz, .nrrd, .nhdr, .mat, .dcm or a DICOM folder)"
            )
    except VolumeError:
        raise
    except Exception as exc:  # a library error: say which file
        raise VolumeError(f"{path}: cannot read volume ({type(exc).__name__}: {exc})") from exc
    if vol.array.ndim != 3:
        raise VolumeError(f"{path}: expected a 3D volume, got shape {vol.array.shape}")
    if not all(s > 0 and np.isfinite(s) for s in vol.spacing):
        raise VolumeError(f"{path}: invalid voxel spacing {vol.spacing}")
    return vol


#: RAS <-> LPS: negate x and y.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])

#: NRRD ``space`` values (and abbreviations) -> the signs that bring them to LPS.
_NRRD_SPACES = {
    "left-posterior-superior": (1.0, 1.0, 1.0),
    "lps": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0),
    "ras": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (1.0, -1.0, 1.0),
    "las": (1.0, -1.0, 1.0),
}


def _given_placement(
    path: Path, origin: tuple[float, ...] | None, direction: tuple[float, ...] | None
) -> tuple[tuple[float, float, float], tuple[tuple[float, ...], ...]]:
    """``origin``/``direction`` arguments as Volume fields (defaults: 0, identity)."""
    if origin is None:
        placed_origin = (0.0, 0.0, 0.0)
    else:
        placed_origin = tuple(float(v) for v in origin)
        if len(placed_origin) != 3 or not all(np.isfinite(placed_origin)):
            raise VolumeError(f"{path}: origin must be 3 finite numbers (x, y, z) mm, got {origin}")
    if direction is None:
        return placed_origin, IDENTITY_DIRECTION  # type: ignore[return-value]
    if np.size(direction) != 9:
        raise VolumeError(f"{path}: direction must be 9 numbers (3x3, row-major), got {direction}")
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    return placed_origin, direction_tuple(matrix, path)  # type: ignore[return-value]


def _read_nifti(path: Path) -> Volume:
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise VolumeError(f"{path}: expected a 3D volume, got shape {data.shape}")
    zooms = np.asarray([float(z) for z in img.header.get_zooms()[:3]])
    lps = _RAS_TO_LPS @ np.asarray(img.affine, dtype=float)[:3]
    lengths = np.linalg.norm(lps[:, :3], axis=0)
    if np.any(lengths <= 0):
        raise VolumeError(f"{path}: the affine has a zero-length axis ({lps.tolist()})")
    if not np.allclose(zooms, lengths, rtol=1e-4, atol=0.0):
        zooms = lengths  # pixdim disagrees with the affine: the affine places the voxels
    array = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    return Volume(
        array=array,
        spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        source=path,
        origin=tuple(float(v) + 0.0 for v in lps[:, 3]),  # type: ignore[arg-type]
        direction=direction_tuple(lps[:, :3] / lengths, path),
    )


def _nrrd_placement(
    path: Path, header: dict
) -> tuple[np.ndarray, tuple[float, float, float] | None, tuple | None]:
    """Voxel sizes ``(x, y, z)``, origin and direction (LPS) from ``space directions``."""
    space = str(header.get("space", "left-posterior-superior")).lower()
    signs = np.asarray(_NRRD_SPACES.get(space, (1.0, 1.0, 1.0)))
    vectors = np.asarray(header["space directions"], dtype=float) * signs  # rows: axes i, j, k
    if vectors.shape != (3, 3) or not np.all(np.isfinite(vectors)):
        raise VolumeError(f"{path}: expected 3 spatial 'space directions', got {vectors.tolist()}")
    sizes = np.linalg.norm(vectors, axis=1)
    if np.any(sizes <= 0):
        raise VolumeError(f"{path}: a zero-length axis in 'space directions'")
    origin = None
    if header.get("space origin") is not None:
        origin = tuple(float(v) + 0.0 for v in np.asarray(header["space origin"], float) * signs)
    return sizes, origin, direction_tuple((vectors / sizes[:, None]).T, path)  # type: ignore[return-value]


def _read_nrrd(
    path: Path, *, spacing: tuple[float, float, float] | None, placed: tuple = ()
) -> Volume:
    import nrrd

    data, header = nrrd.read(str(path))
    origin, direction = placed or ((0.0, 0.0, 0.0), IDENTITY_DIRECTION)
    if header.get("space directions") is not None:
        sizes, file_origin, direction = _nrrd_placement(path, header)
        origin = file_origin if file_origin is not None else origin
    elif header.get("spacings") is not None:
        sizes = np.asarray(header["spacings"], dtype=float)
    elif spacing is not None:
        sizes = np.asarray(spacing, dtype=float)[::-1]  # (x, y, z) like the header's
    else:
        raise MissingSpacingError(
            f"{path}: NRRD header has neither 'space directions' nor 'spacings', so the voxel "
            "size is unknown; pass spacing=(z, y, x) in mm"
        )
    if data.ndim != 3 or sizes.shape != (3,):
        raise VolumeError(f"{path}: expected a 3D volume, got shape {data.shape}")
    array = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    return Volume(
        array=array,
        spacing=(float(sizes[2]), float(sizes[1]), float(sizes[0])),
        source=path,
        origin=origin,
        direction=direction,
    )


def _mat_variables(path: Path) -> dict[str, tuple[int, ...]]:
    """Variable name -> shape (MATLAB's order) of a .mat file, without loading the data."""
    import h5py
    import scipy.io

    if h5py.is_hdf5(str(path)):  # MATLAB v7.3 files are HDF5
        with h5py.File(path, "r") as handle:
            return {
                name: tuple(reversed(item.shape))
                for name, item in handle.items()
                if isinstance(item, h5py.Dataset)
            }
    return {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(str(path))}


def _mat_load(path: Path, name: str) -> np.ndarray:
    """One variable of a .mat file, indexed as in MATLAB (see the module docstring)."""
    import h5py
    import scipy.io

    if h5py.is_hdf5(str(path)):
        with h5py.File(path, "r") as handle:
            # h5py sees MATLAB's column-major arrays transposed: undo it.
            return np.asarray(handle[name]).T
    return np.asarray(scipy.io.loadmat(str(path), variable_names=[name])[name])


def _read_mat(
    path: Path,
    *,
    variable: str | None,
    spacing: tuple[float, float, float] | None,
    mat_axes: str = "zyx",
) -> Volume:
    if sorted(mat_axes) != ["x", "y", "z"]:
        raise VolumeError(f"{path}: mat_axes must be a permutation of 'zyx', got {mat_axes!r}")
    variables = _mat_variables(path)
    if variable is not None:
        if variable not in variables:
            raise VolumeError(f"{path}: no variable {variable!r} (variables: {sorted(variables)})")
        name = variable
    else:
        arrays = sorted(k for k, shape in variables.items() if len(shape) == 3)
        if len(arrays) != 1:
            raise VolumeError(
                f"{path}: {len(arrays)} 3D arrays ({arrays}); say which with variable="
            )
        name = arrays[0]
    array = _mat_load(path, name)
    if array.ndim == 3 and mat_axes != "zyx":  # to (z, y, x)
        array = np.transpose(array, [mat_axes.index(axis) for axis in "zyx"])
    if spacing is None:
        if "spacing" not in variables:
            raise MissingSpacingError(
                f"{path}: a .mat file carries no voxel size; pass spacing=(z, y, x) in mm "
                "or store a 'spacing' variable"
            )
        spacing = tuple(float(s) for s in np.ravel(_mat_load(path, "spacing")))  # type: ignore[assignment]
        if len(spacing) != 3:
            raise VolumeError(f"{path}: 'spacing' must have 3 values (z, y, x), got {spacing}")
    return Volume(
        array=np.ascontiguousarray(array),
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        source=path,
    )


#: The direction of :func:`write_nifti`'s default affine ``diag(sx, sy, sz)`` (RAS) in LPS.
NIFTI_DEFAULT_DIRECTION = ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))


def write_nifti(
    path: str | Path,
    array: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    origin: tuple[float, float, float] | None = None,
    direction: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None,
) -> Path:
    """Write a ``(z, y, x)`` array as NIfTI-1, deterministically and atomically.

    The file stores the array as ``(x, y, z)``, the inverse of :func:`read_volume`, with
    the affine of ``origin`` and ``direction`` (LPS, see :mod:`mpirad.io.volume`)
    converted to NIfTI's RAS. By default (origin 0, direction
    :data:`NIFTI_DEFAULT_DIRECTION`) the affine is ``diag(sx, sy, sz, 1)``, so
    ``write_nifti(p, v.array, v.spacing, origin=v.origin, direction=v.direction)`` of a
    volume read from such a file writes the same bytes. ``.nii.gz`` output is
    gzip-compressed with a zero timestamp, so the same array gives byte-identical files.

    Args:
        path: ``.nii`` or ``.nii.gz`` file name.
        array: the volume, shape ``(z, y, x)``; booleans are stored as uint8.
        spacing: voxel size in mm, ``(z, y, x)``.
        origin: LPS ``(x, y, z)`` in mm of the centre of ``array[0, 0, 0]``; default 0.
        direction: 3x3 rows (or 9 numbers, row-major) whose columns are the LPS unit
            vectors of the array's x, y, z axes; default :data:`NIFTI_DEFAULT_DIRECTION`.

    Returns:
        ``path``.
    """
    import gzip

    import nibabel as nib

    from mpirad.io.atomic import atomic_write

    path = Path(path)
    array = np.asarray(array)
    if array.ndim != 3:
        raise VolumeError(f"{path}: write_nifti needs a 3D (z, y, x) array, got {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    sz, sy, sx = (float(s) for s in spacing)
    origin, rows = _given_placement(
        path, origin, NIFTI_DEFAULT_DIRECTION if direction is None else np.ravel(direction)
    )
    affine = np.eye(4)
    affine[:3, :3] = _RAS_TO_LPS @ np.asarray(rows) * np.array([sx, sy, sz])
    affine[:3, 3] = _RAS_TO_LPS @ np.asarray(origin)
    affine += 0.0  # no negative zeros: the default affine is exactly diag(sx, sy, sz, 1)
    img = nib.Nifti1Image(np.transpose(array, (2, 1, 0)), affine)
    img.header.set_zooms((sx, sy, sz))
    img.header.set_xyzt_units("mm")
    raw = img.to_bytes()
    with atomic_write(path, "wb") as handle:
        if path.name.lower().endswith(".gz"):
            handle.write(gzip.compress(raw, compresslevel=6, mtime=0))
        else:
            handle.write(raw)
    return path
