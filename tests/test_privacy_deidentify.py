"""Annex E table, header de-identification, burned-in flags, site secret and pseudonyms."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pydicom
import pytest
from dicom_helpers import (
    make_dataset,
    make_secondary_capture,
    planted_values,
)
from pydicom.data import get_testdata_file
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.uid import UID

from mpirad.privacy.annex_e import ACTION_CODES, BASIC_PROFILE_ACTIONS
from mpirad.privacy.deidentify import (
    MissingPatientKeyError,
    burned_in_reasons,
    deidentify_dataset,
    resolve_action,
)
from mpirad.privacy.secret import (
    Pseudonymizer,
    SiteSecret,
    SiteSecretError,
    load_site_secret,
)

SECRET = SiteSecret(key=b"test-site-secret-0123456789abcdef", origin="tests")
SOP_UID = "1.2.826.0.1.3680043.8.498.20000"


def test_annex_e_table_is_the_standard_basic_profile():
    assert len(BASIC_PROFILE_ACTIONS) > 600
    assert set(BASIC_PROFILE_ACTIONS.values()) <= ACTION_CODES
    # rows of PS3.15 Table E.1-1 checked by hand against the standard
    expected = {
        "PatientName": "Z",
        "PatientID": "Z/D",
        "PatientBirthDate": "Z",
        "AccessionNumber": "Z",
        "StudyInstanceUID": "U",
        "SeriesInstanceUID": "U",
        "SOPInstanceUID": "U",
        "FrameOfReferenceUID": "U",
        "InstitutionName": "X/Z/D",
        "ReferringPhysicianName": "Z",
        "PatientAddress": "X",
        "OtherPatientIDs": "X",
        "StudyDate": "Z",
        "SeriesDescription": "X",
        "DeviceSerialNumber": "X/Z/D",
    }
    assert {k: BASIC_PROFILE_ACTIONS[k] for k in expected} == expected
    for keyword in BASIC_PROFILE_ACTIONS:  # keywords are pydicom's own
        assert keyword_for_tag(tag_for_keyword(keyword)) == keyword
    for keyword in ("Modality", "Rows", "PixelSpacing", "InstanceNumber", "ImagePositionPatient"):
        assert keyword not in BASIC_PROFILE_ACTIONS


@pytest.mark.parametrize(
    ("code", "action"), [("X/Z/D", "X"), ("X/Z/U*", "X"), ("Z/D", "Z"), ("D", "D"), ("U", "U")]
)
def test_resolve_action_takes_the_strictest_branch(code, action):
    assert resolve_action(code) == action


def test_deidentified_file_holds_no_planted_identifier(tmp_path):
    ds = make_dataset(pixels=np.zeros((4, 4), np.uint16), sop_uid=SOP_UID)
    ds.PatientSex = "M"
    ds.ContentSequence = pydicom.Sequence([pydicom.Dataset()])
    ds.ContentSequence[0].PersonName = "WITNESS^WANDA"  # D in a kept ("D") sequence
    clean = deidentify_dataset(ds, Pseudonymizer(SECRET))
    assert ds.PatientName == "DOE^JOHNATHAN^Q"  # the input is untouched
    path = tmp_path / "clean.dcm"
    clean.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    for value in planted_values([SOP_UID, SOP_UID + ".99"]) + ["WITNESS"]:
        assert value.encode() not in data, value
    read = pydicom.dcmread(path)
    pseudonym = Pseudonymizer(SECRET).patient_id("MRN-4711-0815")
    assert read.PatientID == read.PatientName == pseudonym
    assert read.PatientIdentityRemoved == "YES"
    assert read.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert "PatientBirthDate" not in read or not read.PatientBirthDate
    assert "InstitutionName" not in read and "OtherPatientIDs" not in read
    assert "ReferencedImageSequence" not in read  # X/Z/U* -> removed
    assert not any(elem.tag.is_private for elem in read.iterall())
    assert read.ContentSequence[0].PersonName == "ANONYMIZED"
    assert UID(read.StudyInstanceUID).is_valid and read.StudyInstanceUID.startswith("2.25.")
    assert read.file_meta.MediaStorageSOPInstanceUID == read.SOPInstanceUID
    assert read.Modality == "CT" and list(read.PixelSpacing) == [2.0, 1.5]
    assert read.preamble == b"\x00" * 128
    # consistent UIDs: the same source UID gives the same replacement in another file
    other = make_dataset(pixels=np.zeros((4, 4), np.uint16), sop_uid=SOP_UID + ".5")
    assert (
        deidentify_dataset(other, Pseudonymizer(SECRET)).StudyInstanceUID == read.StudyInstanceUID
    )


def test_deidentify_real_files_removes_their_identifiers():
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name))
        clean = deidentify_dataset(ds, Pseudonymizer(SECRET))
        for keyword in ("StudyInstanceUID", "SOPInstanceUID", "AccessionNumber"):
            if ds.get(keyword):
                assert str(clean.get(keyword, "")) != str(ds.get(keyword))
        text = str(clean)
        assert str(ds.PatientName) not in text and str(ds.PatientID) not in text


def test_missing_patient_key():
    ds = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid=SOP_UID, patient={})
    with pytest.raises(MissingPatientKeyError, match="neither PatientID nor PatientName"):
        deidentify_dataset(ds, Pseudonymizer(SECRET))


def test_burned_in_flags():
    ct = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid=SOP_UID)
    assert burned_in_reasons(ct) == ()
    ct.BurnedInAnnotation = "YES"
    assert burned_in_reasons(ct) == ("BurnedInAnnotation is YES",)
    sc = make_secondary_capture(SOP_UID, BurnedInAnnotation="NO")  # "NO" is not trusted
    assert any("Secondary Capture" in reason for reason in burned_in_reasons(sc))
    real = pydicom.dcmread(get_testdata_file("SC_rgb_rle.dcm"))
    assert burned_in_reasons(real)
    us = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid=SOP_UID, modality="US")
    assert burned_in_reasons(us) == ("modality US (ultrasound) typically carries it",)


def test_load_site_secret(tmp_path):
    assert load_site_secret(environ={"MPIRAD_SITE_SECRET": "s" * 20}).key == b"s" * 20
    file = tmp_path / "secret"
    file.write_text("f" * 32 + "\n")
    file.chmod(0o644)
    loaded = load_site_secret(environ={"MPIRAD_SITE_SECRET_FILE": str(file)})
    assert loaded.key == b"f" * 32 and "chmod 600" in loaded.warnings[0]
    assert "f" * 32 not in repr(loaded)
    with pytest.raises(SiteSecretError, match="no site secret"):
        load_site_secret(environ={})
    with pytest.raises(SiteSecretError, match="set only one"):
        load_site_secret(environ={"MPIRAD_SITE_SECRET": "s" * 20, "MPIRAD_SITE_SECRET_FILE": "x"})
    with pytest.raises(SiteSecretError, match="at least 16"):
        load_site_secret(environ={"MPIRAD_SITE_SECRET": "short"})
    with pytest.raises(SiteSecretError, match="cannot read"):
        load_site_secret(environ={"MPIRAD_SITE_SECRET_FILE": str(tmp_path / "absent")})
    ephemeral = load_site_secret(ephemeral=True, environ={})
    assert ephemeral.ephemeral and ephemeral.key != load_site_secret(ephemeral=True, environ={}).key


def test_pseudonyms_are_hmac_sha256():
    pseudonymizer = Pseudonymizer(SECRET)
    expected = hmac.new(SECRET.key, b"patient\x00MRN-4711-0815", hashlib.sha256).hexdigest()
    assert pseudonymizer.patient_id("MRN-4711-0815") == "P" + expected[:16]
    assert pseudonymizer.short_id("study", "1.2.3") != pseudonymizer.short_id("series", "1.2.3")
    uid = pseudonymizer.uid("1.2.3.4")
    assert UID(uid).is_valid and len(uid) <= 64 and uid == pseudonymizer.uid("1.2.3.4")
    assert uid == "2.25." + str(
        int(hmac.new(SECRET.key, b"uid\x001.2.3.4", hashlib.sha256).hexdigest()[:32], 16)
    )
    with pytest.raises(ValueError, match="empty"):
        pseudonymizer.patient_id("")
    assert "test-site-secret" not in repr(pseudonymizer)
