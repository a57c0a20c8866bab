"""De-identification of DICOM headers (PS3.15 Annex E, Basic Profile) and burned-in flags.

:func:`deidentify_dataset` applies the Basic Application Level Confidentiality Profile to
a copy of a :class:`pydicom.dataset.Dataset`:

- every attribute of Table E.1-1 (:data:`mpirad.privacy.annex_e.ACTIONS_BY_TAG`, looked
  up by tag, so also attributes newer than pydicom's dictionary), at any depth of
  nesting, gets its action: ``X`` removed; ``Z`` emptied; ``D`` a dummy value of its VR
  (a keyed UID for a UID); ``U`` a keyed UID (:meth:`Pseudonymizer.uid`, the same source
  UID always gives the same replacement); the conditional codes take their strictest
  branch (``X/...`` -> removed, ``Z/D`` -> emptied);
- PatientID and PatientName (``Z/D`` and ``Z``) become the keyed patient pseudonym (the
  "dummy value" that the profile allows), so a de-identified set still groups by patient;
- private attributes are removed (:meth:`Dataset.remove_private_tags`), as are all curve
  (50xx) and overlay (60xx) groups;
- stricter than the table: person names (VR PN) that the table does not list are emptied,
  and public attributes unknown to pydicom's dictionary are removed;
- PatientIdentityRemoved is set to ``YES`` and DeidentificationMethod(CodeSequence) record
  the profile (code 113100, DCM); the 128-byte preamble is zeroed and the file meta
  information rebuilt.

Limits: pixel data is not inspected (see :func:`burned_in_reasons`); free text in
attributes that the table does not list is kept as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from mpirad import __version__
from mpirad.privacy.annex_e import ACTIONS_BY_TAG, REPEATING_GROUPS_REMOVED
from mpirad.privacy.secret import Pseudonymizer

#: Dummy values for action ``D``, by VR (PS3.5 Table 6.2-1 formats).
DUMMY_VALUES: dict[str, str | int | float | bytes] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "PN": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "TM": "000000",
    "UC": "ANONYMIZED",
    "UR": "",
    "UT": "ANONYMIZED",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
}

#: SOP classes whose images typically carry burned-in text: secondary capture (screen
#: grabs of workstation displays, e.g. QPS/QGS pages) and ultrasound.
BURNED_IN_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image",
}
#: Modalities whose images typically carry burned-in text or show the patient.
BURNED_IN_MODALITIES: dict[str, str] = {
    "SC": "secondary capture",
    "OT": "other",
    "US": "ultrasound",
    "XC": "external-camera photograph",
    "ES": "endoscopy",
    "GM": "general microscopy",
    "DOC": "document",
}

#: DeidentificationMethod (LO, at most 64 characters).
DEIDENTIFICATION_METHOD = f"mpirad {__version__}: PS3.15 Annex E Basic Profile, HMAC pseudonyms"


class MissingPatientKeyError(ValueError):
    """A DICOM header has neither PatientID nor PatientName, so no stable pseudonym exists."""


def source_patient_key(ds: Dataset) -> str:
    """The source value that the patient pseudonym is derived from.

    PatientID when present; otherwise PatientName with PatientBirthDate.

    Raises:
        MissingPatientKeyError: when both PatientID and PatientName are empty.
    """
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if patient_id:
        return patient_id
    name = str(ds.get("PatientName", "") or "").strip()
    if name:
        return f"name:{name}|birth:{str(ds.get('PatientBirthDate', '') or '').strip()}"
    raise MissingPatientKeyError(
        "the header has neither PatientID nor PatientName, so it cannot be given a stable "
        "pseudonymous patient id"
    )


def resolve_action(action: str) -> str:
    """The single action mpirad applies for a (possibly conditional) Basic Profile code.

    The strictest branch wins: anything starting with ``X`` removes, ``Z/D`` empties.

    Args:
        action: a code of :data:`mpirad.privacy.annex_e.ACTION_CODES`.

    Returns:
        ``"X"``, ``"Z"``, ``"D"`` or ``"U"``.
    """
    if action.startswith("X"):
        return "X"
    if action.startswith("Z"):
        return "Z"
    if action in ("D", "U"):
        return action
    raise ValueError(f"unknown Annex E action code {action!r}")


def _replace_uids(value: object, pseudonymizer: Pseudonymizer) -> object:
    if isinstance(value, MultiValue | list | tuple):
        return [pseudonymizer.uid(str(item)) for item in value if str(item)]
    text = str(value or "")
    return pseudonymizer.uid(text) if text else text


def _apply(elem: DataElement, action: str, pseudonymizer: Pseudonymizer) -> bool:
    """Apply ``action`` to ``elem`` in place; return True when it must be removed."""
    if action == "X":
        return True
    if elem.VR == "SQ":
        if action == "Z":
            elem.value = []
        # "D" on a sequence: keep it; its items are de-identified as the walk recurses.
        return False
    if action == "U" or (action == "D" and elem.VR == "UI"):
        elem.value = _replace_uids(elem.value, pseudonymizer)
    elif action == "Z":
        elem.value = b"" if elem.VR in ("OB", "OW", "OD", "OF", "OL", "OV", "UN") else None
    elif action == "D":
        elem.value = DUMMY_VALUES.get(elem.VR, None)
    return False


def deidentify_dataset(ds: Dataset, pseudonymizer: Pseudonymizer) -> Dataset:
    """A de-identified copy of ``ds`` (the input is not modified).

    Args:
        ds: a DICOM dataset (file meta, if any, is rebuilt).
        pseudonymizer: the site's keyed pseudonyms.

    Returns:
        A new dataset following the Basic Profile (see the module docstring), with
        PatientID and PatientName set to the patient pseudonym.

    Raises:
        MissingPatientKeyError: when the header has neither PatientID nor PatientName.
    """
    patient_pseudonym = pseudonymizer.patient_id(source_patient_key(ds))
    out = copy.deepcopy(ds)
    out.remove_private_tags()

    def visit(dataset: Dataset, elem: DataElement) -> None:
        tag = elem.tag
        if tag.is_private or (tag.group & 0xFF00) in REPEATING_GROUPS_REMOVED:
            del dataset[tag]
            return
        code = ACTIONS_BY_TAG.get(int(tag))
        if code is None:
            if not elem.keyword and tag.element != 0x0000:
                # a public attribute unknown to the dictionary: its meaning cannot be judged
                del dataset[tag]
                return
            if elem.VR != "PN":
                return  # not listed in Table E.1-1: retained
            code = "Z"
        if _apply(elem, resolve_action(code), pseudonymizer):
            del dataset[tag]

    out.walk(visit)
    out.PatientID = patient_pseudonym
    out.PatientName = patient_pseudonym
    out.PatientIdentityRemoved = "YES"
    out.LongitudinalTemporalInformationModified = "REMOVED"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code_item = Dataset()
    code_item.CodeValue = "113100"
    code_item.CodingSchemeDesignator = "DCM"
    code_item.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = [code_item]

    meta = FileMetaDataset()
    source_meta = getattr(ds, "file_meta", None)
    meta.MediaStorageSOPClassUID = out.get("SOPClassUID") or (
        source_meta.get("MediaStorageSOPClassUID") if source_meta else None
    )
    if "SOPInstanceUID" in out:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    transfer_syntax = source_meta.get("TransferSyntaxUID") if source_meta else None
    meta.TransferSyntaxUID = transfer_syntax or ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.file_meta = meta
    out.preamble = b"\x00" * 128
    return out


def burned_in_reasons(ds: Dataset) -> tuple[str, ...]:
    """Why an image may show identifying text or features in its pixels (header only).

    The pixels are never trusted: an image is flagged when its header says so
    (BurnedInAnnotation or RecognizableVisualFeatures ``YES``) *or* when its SOP class,
    modality or image type typically carries burned-in text (secondary capture,
    ultrasound, photographs, screen saves), even if BurnedInAnnotation says ``NO``.

    Args:
        ds: the source header.

    Returns:
        Human-readable reasons; empty when nothing flags the image.
    """
    reasons: list[str] = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if str(ds.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        reasons.append("RecognizableVisualFeatures is YES")
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if sop_class in BURNED_IN_SOP_CLASSES:
        reasons.append(f"SOP class {BURNED_IN_SOP_CLASSES[sop_class]} typically carries it")
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in BURNED_IN_MODALITIES:
        reasons.append(
            f"modality {modality} ({BURNED_IN_MODALITIES[modality]}) typically carries it"
        )
    image_type: Iterable[str] = ds.get("ImageType", None) or ()
    if isinstance(image_type, str):
        image_type = image_type.split("\\")
    if any(str(value).strip().upper() == "SCREEN SAVE" for value in image_type):
        reasons.append("ImageType says SCREEN SAVE")
    return tuple(reasons)
