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
PhysioNet MPS database          :mod:`mpirad.io.physionet`         its manifest entry, folder
==============================  =================================  ===========================

File formats:

========================  =============================================  ==================
format                    functions                                      library
========================  =============================================  ==================
Labelme JSON 3.x-5.x      :func:`read_labelme`                           json, Pillow
Study A label CSV         :func:`read_label_csv`, :func:`write_label_csv`  pandas
PNG                       :func:`read_png`, :func:`write_png`            Pillow
NIfTI / NRRD / MAT        :func:`read_volume`, :func:`write_nifti`       nibabel, pynrrd, scipy/h5py
DICOM series, NM .dcm     :func:`mpirad.io.dicom.read_dicom_series`      pydicom
DICOM RTSTRUCT            :func:`mpirad.io.rtstruct.read_rtstruct`,     pydicom, scikit-image
                          :func:`mpirad.io.rtstruct.write_rtstruct`
parquet tables            :func:`read_parquet`, :func:`write_parquet`    pyarrow
========================  =============================================  ==================
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.io.atomic": (
            "atomic_path",
            "atomic_write",
        ),
        "mpirad.io.labelme": (
            "LabelmeAnnotation",
            "LabelmeError",
            "Shape",
            "ShapeTally",
            "read_labelme",
            "tally_shapes",
        ),
        "mpirad.io.labels": (
            "LabelTableError",
            "read_label_csv",
            "write_label_csv",
        ),
        "mpirad.io.png": (
            "ImageReadError",
            "read_png",
            "write_png",
        ),
        "mpirad.io.tables": (
            "read_parquet",
            "write_parquet",
        ),
        "mpirad.io.volumes": (
            "MissingSpacingError",
            "Volume",
            "VolumeError",
            "read_volume",
            "write_nifti",
        ),
    },
)
