"""A patient's radiomic features as a DICOM Structured Report (TID 1500 measurement report).

As pyradiomics' ``pyradiomics-dcm`` does, :func:`write_features_sr` stores the features of
one patient as a Comprehensive 3D SR built by highdicom (:class:`highdicom.sr.MeasurementReport`,
DICOM TID 1500): one "Volumetric ROI measurements" group (TID 1411) per ROI and bin number,
which references the ROI's segment in the patient's DICOM SEG (``mpirad rois --seg``), and
one measurement (TID 300) per feature:

- concept name: the feature's IBSI identifier as the code value, coding scheme ``IBSI``
  (declared in the SR's CodingSchemeIdentificationSequence), its IBSI label as the meaning;
  a feature without an IBSI identifier is left out and counted;
- method: the IBSI aggregation method (its identifier, scheme ``IBSI``);
- algorithm: mpirad and its version, with the bin number as a parameter
  (``n_bins=<N>``);
- unit: UCUM ``1`` ("no units"): Study B's families (intensity histogram, IVH, texture
  matrices) are computed on discretised intensities and are dimensionless.

The SR's patient and study attributes come from the SEG (itself as identifying as its
pseudonymised source, :mod:`mpirad.io.seg`), and nothing else is added.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataset import Dataset

from mpirad.io.atomic import atomic_path
from mpirad.io.dicom import quiet_pydicom
from mpirad.io.seg import _derived_uid

#: The coding scheme of IBSI feature and aggregation identifiers.
IBSI_SCHEME = "IBSI"


class SrError(ValueError):
    """Features that cannot be written as an SR (names the patient, ROI, file)."""


def _label(row) -> str:
    """The IBSI label of a feature row (e.g. ``GLCM joint maximum``), at most 64 characters."""
    from mpirad.radiomics.ibsi import feature_label

    try:
        return feature_label(row.family, row.name)[:64]
    except KeyError:
        return f"{row.family} {row.name}"[:64]


def _ibsi_scheme_item() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = IBSI_SCHEME
    item.CodingSchemeName = "Image Biomarker Standardisation Initiative"
    item.CodingSchemeResponsibleOrganization = "IBSI (theibsi.github.io)"
    return item


def write_features_sr(
    features: pd.DataFrame,
    seg_path: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    patient: str | None = None,
) -> tuple[Path, int]:
    """Write one patient's features as a TID 1500 measurement report (see the module).

    Args:
        features: that patient's rows of the feature table
            (:data:`mpirad.radiomics.cohort.COHORT_COLUMNS`: ``roi``, ``n_bins``,
            ``family``, ``name``, ``ibsi_code``, ``aggregation``, ``value``).
        seg_path: the patient's DICOM SEG whose segment labels are the ROI names.
        path: the SR file to write (atomically).
        patient: the patient id for messages.

    Returns:
        ``(path, measurements written)``.

    Raises:
        SrError: a ROI without a segment in the SEG, or no finite value to write.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    import mpirad

    who = f"patient {patient}: " if patient is not None else ""
    with quiet_pydicom():
        seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    if seg.get("Modality") != "SEG":
        raise SrError(f"{who}{seg_path}: not a DICOM SEG")
    numbers = {str(s.SegmentLabel): int(s.SegmentNumber) for s in seg.SegmentSequence}
    source_series = str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    groups, written = [], 0
    for (roi, n_bins), rows in features.groupby(["roi", "n_bins"], sort=True):
        if roi not in numbers:
            raise SrError(
                f"{who}{seg_path}: ROI {roi!r} has no segment in the SEG "
                f"(it holds {sorted(numbers)})"
            )
        algorithm = hd.sr.AlgorithmIdentification(
            name="mpirad", version=mpirad.__version__, parameters=[f"n_bins={int(n_bins)}"]
        )
        measurements = []
        for row in rows.itertuples():
            if (
                not isinstance(row.ibsi_code, str)
                or not row.ibsi_code
                or not np.isfinite(row.value)
            ):
                continue
            aggregation = str(row.aggregation)
            method_code = aggregation.rsplit("(", 1)[-1].rstrip(")")
            measurements.append(
                hd.sr.Measurement(
                    name=hd.sr.CodedConcept(row.ibsi_code, IBSI_SCHEME, _label(row)),
                    value=float(row.value),
                    unit=hd.sr.CodedConcept("1", "UCUM", "no units"),
                    method=hd.sr.CodedConcept(method_code, IBSI_SCHEME, aggregation[:64]),
                    algorithm_id=algorithm,
                )
            )
        if not measurements:
            continue
        written += len(measurements)
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=_derived_uid([str(seg.SOPInstanceUID), roi, str(n_bins)]),
                    identifier=f"{roi}, {int(n_bins)} bins",
                ),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=numbers[roi],
                    source_series=hd.sr.SourceSeriesForSegmentation(source_series),
                ),
                measurements=measurements,
            )
        )
    if not groups:
        raise SrError(f"{who}{seg_path}: no finite IBSI feature value to write")
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_derived_uid(["mpirad", "device"]), name="mpirad"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=hd.sr.CodedConcept(
            "252432008", "SCT", "Radionuclide myocardial perfusion study"
        ),  # fmt: skip
        imaging_measurements=groups,
    )
    entropy = [str(seg.SOPInstanceUID), "sr", str(written)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pseudonymous PatientName warnings
        sr = _comprehensive_sr(hd, seg, report, entropy)
    sr.CodingSchemeIdentificationSequence = [_ibsi_scheme_item()]
    sr.SeriesDescription = "mpirad radiomic features (TID 1500)"
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod",
                    "DeidentificationMethodCodeSequence"):  # fmt: skip
        if keyword in seg:
            sr[keyword] = seg[keyword]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sr.save_as(tmp)
    return path, written


def _comprehensive_sr(hd, seg: Dataset, report, entropy: list[str]):
    return hd.sr.Comprehensive3DSR(
        evidence=[seg],
        content=report,
        series_instance_uid=_derived_uid([*entropy, "series"]),
        series_number=9902,
        sop_instance_uid=_derived_uid([*entropy, "instance"]),
        instance_number=1,
        manufacturer="mpirad",
        is_complete=True,
    )


def write_cohort_srs(
    table: pd.DataFrame, root: str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> tuple[list[Path], list[str]]:
    """One SR per patient of a feature table whose dataset holds ``<patient>/rois_seg.dcm``.

    Args:
        table: the cohort feature table.
        root: the dataset folder (e.g. written by ``mpirad rois --seg``).
        out_dir: where ``<patient_id>.dcm`` files go.

    Returns:
        The SR files written, and the patients without a SEG (no SR).
    """
    from mpirad.heart.dataset import SEG_FILE

    written, missing = [], []
    for patient_id, rows in table.groupby("patient_id", sort=True):
        seg_path = Path(root) / str(patient_id) / SEG_FILE
        if not seg_path.is_file():
            missing.append(str(patient_id))
            continue
        path, _ = write_features_sr(rows, seg_path, Path(out_dir) / f"{patient_id}.dcm",
                                    patient=str(patient_id))  # fmt: skip
        written.append(path)
    return written, missing


__all__ = ["IBSI_SCHEME", "SrError", "write_cohort_srs", "write_features_sr"]
