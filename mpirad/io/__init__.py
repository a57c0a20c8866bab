"""Readers and writers: files -> ``io`` -> arrays and tidy tables.

Every dataset the package analyses is read here, and every reader names the file and the
problem when the input is bad. The analysis packages (``tomo``, ``radiomics``, ``stats``)
start from what these modules return.

Datasets (which module reads which dataset):

==============================  =================================  ===========================
dataset                         module                             returns
==============================  =================================  ===========================
where a dataset's files are     :mod:`mpirad.io.layouts`           file paths per patient/ROI
Study A Labelme export          :mod:`mpirad.io.tomograms`         slice index, PNG + outline
Study B volumes and ROI masks   :mod:`mpirad.io.patient_volumes`   validated image, masks
Study B clinical and CAC        :mod:`mpirad.io.clinical_tables`   tidy clinical/CAC tables
==============================  =================================  ===========================

File formats:

========================  =============================================  ==================
format                    functions                                      library
========================  =============================================  ==================
Labelme JSON 3.x-5.x      :func:`read_labelme`                           json, Pillow
Study A label CSV         :func:`read_label_csv`, :func:`write_label_csv`  pandas
PNG                       :func:`read_png`, :func:`write_png`            Pillow
NIfTI / NRRD / MAT        :func:`read_volume`, :func:`write_nifti`       nibabel, pynrrd, scipy/h5py
DICOM series              :func:`mpirad.io.dicom.read_dicom_series`      pydicom
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
