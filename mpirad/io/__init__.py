"""Readers and writers of the field's file formats.

Every reader names the file and the problem when the input is bad.

========================  =============================================  ==================
format                    functions                                      library
========================  =============================================  ==================
Labelme JSON 3.x-5.x      :func:`read_labelme`                           json, Pillow
Study A label CSV         :func:`read_label_csv`, :func:`write_label_csv`  pandas
PNG                       :func:`read_png`, :func:`write_png`            Pillow
NIfTI / NRRD / MAT        :func:`read_volume`, :func:`write_nifti`       nibabel, pynrrd, scipy/h5py
DICOM series              :func:`mpirad.io.dicom.read_dicom_series`      pydicom
dataset layouts           :mod:`mpirad.io.layouts` (files of a dataset)  (patterns, manifest)
parquet tables            :func:`read_parquet`, :func:`write_parquet`    pyarrow
========================  =============================================  ==================
"""

from __future__ import annotations

from mpirad.io.atomic import atomic_path, atomic_write
from mpirad.io.labelme import (
    LabelmeAnnotation,
    LabelmeError,
    Shape,
    ShapeTally,
    read_labelme,
    tally_shapes,
)
from mpirad.io.labels import LabelTableError, read_label_csv, write_label_csv
from mpirad.io.png import ImageReadError, read_png, write_png
from mpirad.io.tables import read_parquet, write_parquet
from mpirad.io.volumes import (
    MissingSpacingError,
    Volume,
    VolumeError,
    read_volume,
    write_nifti,
)

__all__ = [
    "ImageReadError",
    "LabelTableError",
    "LabelmeAnnotation",
    "LabelmeError",
    "MissingSpacingError",
    "Shape",
    "ShapeTally",
    "Volume",
    "VolumeError",
    "atomic_path",
    "atomic_write",
    "read_label_csv",
    "read_labelme",
    "read_parquet",
    "read_png",
    "read_volume",
    "tally_shapes",
    "write_label_csv",
    "write_nifti",
    "write_parquet",
    "write_png",
]
