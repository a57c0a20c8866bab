"""PS3.15 Table E.1-1 (mpirad.privacy.annex_e): row by row against an independent copy.

The reference is the machine-readable copy of the table that the ``dicom-anonymizer``
package (Kitware; a test-only dependency, pinned in the ``dev`` extra of pyproject.toml)
carries for several editions of the standard: one Python list of tags per Basic Profile
action, in ``dicomanonymizer.dicom_anonymization_databases.dicomfields_<edition>``. The
comparison reads it from the installed package; nothing of it is copied into mpirad.

Also here: the de-identifier and the identifier guard act on the attributes added with
the 2026c edition (Ethnic Group Code Sequence, Secondary Capture Device ID, Table Top
Position Alignment UID, Name to Use...).
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import numpy as np
import pydicom
import pytest
from dicom_helpers import make_dataset, write_dataset
from pydicom.datadict import (
    DicomDictionary,
    add_dict_entry,
    dictionary_VR,
    keyword_dict,
    keyword_for_tag,
    tag_for_keyword,
)
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ImplicitVRLittleEndian

from mpirad.privacy.annex_e import (
    ACTION_CODES,
    ACTIONS_BY_TAG,
    BASIC_PROFILE_ACTIONS,
    BASIC_PROFILE_ACTIONS_BY_TAG,
    EDITION,
    REPEATING_GROUPS_REMOVED,
)
from mpirad.privacy.deidentify import DUMMY_VALUES, deidentify_dataset
from mpirad.privacy.guard import scan
from mpirad.privacy.identifiers import Identifier, collect_identifiers, identifiers_from_dataset
from mpirad.privacy.secret import Pseudonymizer, SiteSecret

REFERENCE_PACKAGE = "dicomanonymizer"  # PyPI: dicom-anonymizer
REFERENCE_DATABASES = f"{REFERENCE_PACKAGE}.dicom_anonymization_databases"

#: The reference's lists, named by action, and the Basic Profile code each one stands for
#: (its README: D_TAGS "replace", Z_TAGS "empty", X_TAGS "delete", U_TAGS "replace_UID",
#: Z_D_TAGS "empty_or_replace", ..., X_Z_U_STAR_TAGS "delete_or_empty_or_replace_UID").
#: Its ALL_TAGS is the union of these and is not compared.
REFERENCE_CODES: dict[str, str] = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}

# Allow-lists: differences between the reference and our table that are known and kept
# on purpose, tag -> the reason. Each must be a real difference (a stale entry fails).
# For the 2026c edition the two copies agree on every row, so all three are empty.

#: Rows of the reference that our table lacks (e.g. retired in the edition we follow, or
#: the reference's error).
MISSING_FROM_OURS: dict[int, str] = {}
#: Rows of our table that the reference lacks (e.g. the reference's omission).
MISSING_FROM_REFERENCE: dict[int, str] = {}
#: Rows whose action differs.
ACTIONS_DIFFER: dict[int, str] = {}

pytestmark = pytest.mark.filterwarnings("ignore:VR lookup failed:UserWarning")

SECRET = SiteSecret(key=b"test-site-secret-0123456789abcdef", origin="tests")


def _edition_key(edition: str) -> tuple[int, str]:
    match = re.fullmatch(r"(\d{4})([a-z]?)", edition)
    assert match, f"unexpected edition name {edition!r}"
    return int(match[1]), match[2]


def _reference_editions() -> list[str]:
    databases = importlib.import_module(REFERENCE_DATABASES)
    return sorted(
        (
            module.name.removeprefix("dicomfields_")
            for module in pkgutil.iter_modules(databases.__path__)
            if module.name.startswith("dicomfields_")
        ),
        key=_edition_key,
    )


@pytest.fixture(scope="module")
def reference():
    """The reference copy of the edition we follow: (tag -> code, repeating-group masks)."""
    pytest.importorskip(
        REFERENCE_PACKAGE,
        reason="the reference copy of PS3.15 Table E.1-1 (PyPI package dicom-anonymizer, "
        "in the dev extra: pip install -e '.[dev]') is not installed",
    )
    selector = importlib.import_module(f"{REFERENCE_PACKAGE}.dicomfields_selector")
    # their vocabulary must be the one mapped above: a new list of theirs fails here
    assert set(selector.ANONYMIZATION_CATEGORIES) - {"ALL_TAGS"} == set(REFERENCE_CODES)
    assert EDITION in _reference_editions(), (EDITION, _reference_editions())
    database = selector.dicom_anonymization_database_selector(f"dicomfields_{EDITION}")
    codes: dict[int, str] = {}
    masks: list[tuple[tuple[int, ...], str]] = []
    duplicates = []
    for category, code in REFERENCE_CODES.items():
        for entry in database[category]:
            if len(entry) == 4:  # (group, element, group mask, element mask)
                masks.append((tuple(entry), code))
                continue
            tag = int(Tag(*entry))
            if tag in codes:
                duplicates.append((_name(tag), codes[tag], code))
            codes[tag] = code
    assert not duplicates, f"the reference lists these tags under two actions: {duplicates}"
    assert len(database["ALL_TAGS"]) == len(codes) + len(masks)
    return codes, masks


def _name(tag: int) -> str:
    keyword = keyword_for_tag(tag) or "not in pydicom's dictionary"
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword}"


def test_every_reference_row_is_ours_with_the_same_action(reference):
    theirs, _masks = reference
    ours = ACTIONS_BY_TAG
    missing = {tag for tag in theirs.keys() - ours.keys() if tag not in MISSING_FROM_OURS}
    extra = {tag for tag in ours.keys() - theirs.keys() if tag not in MISSING_FROM_REFERENCE}
    differ = {
        tag
        for tag in theirs.keys() & ours.keys()
        if theirs[tag] != ours[tag] and tag not in ACTIONS_DIFFER
    }
    problems = [f"{_name(t)}: {theirs[t]} in the reference, not in ours" for t in sorted(missing)]
    problems += [f"{_name(t)}: {ours[t]} in ours, not in the reference" for t in sorted(extra)]
    problems += [f"{_name(t)}: ours {ours[t]}, reference {theirs[t]}" for t in sorted(differ)]
    assert not problems, f"Table E.1-1 ({EDITION}) differs from the reference:\n" + "\n".join(
        problems
    )
    # the allow-lists hold real differences only
    assert set(MISSING_FROM_OURS) <= theirs.keys() - ours.keys()
    assert set(MISSING_FROM_REFERENCE) <= ours.keys() - theirs.keys()
    assert all(theirs[tag] != ours[tag] for tag in ACTIONS_DIFFER)


def test_repeating_group_rows_are_covered_by_our_rule(reference):
    _codes, masks = reference
    assert masks, "the reference lists curve and overlay rows as masks"
    covered = set()
    for (group, _element, group_mask, _element_mask), code in masks:
        assert code == "X"
        assert group & group_mask in REPEATING_GROUPS_REMOVED  # we remove the whole group
        covered.add(group & group_mask)
    assert covered == set(REPEATING_GROUPS_REMOVED)


def test_we_follow_the_newest_edition_of_the_reference():
    pytest.importorskip(REFERENCE_PACKAGE, reason="dicom-anonymizer (dev extra) not installed")
    newest = _reference_editions()[-1]
    assert _edition_key(EDITION) >= _edition_key(newest), (
        f"the reference has edition {newest}, our table follows {EDITION}: bring "
        "mpirad/privacy/annex_e.py up to date (SECURITY.md says how)"
    )


def test_table_is_consistent_with_pydicom():
    assert re.fullmatch(r"\d{4}[a-e]", EDITION)
    assert set(BASIC_PROFILE_ACTIONS.values()) | set(BASIC_PROFILE_ACTIONS_BY_TAG.values()) <= (
        ACTION_CODES
    )
    keyword_tags = {tag_for_keyword(keyword) for keyword in BASIC_PROFILE_ACTIONS}
    assert None not in keyword_tags
    assert not keyword_tags & BASIC_PROFILE_ACTIONS_BY_TAG.keys()  # no row twice
    assert len(ACTIONS_BY_TAG) == len(BASIC_PROFILE_ACTIONS) + len(BASIC_PROFILE_ACTIONS_BY_TAG)
    for tag in BASIC_PROFILE_ACTIONS_BY_TAG:
        assert Tag(tag).group % 2 == 0 and (tag >> 16) & 0xFF00 not in REPEATING_GROUPS_REMOVED
    for keyword, code in BASIC_PROFILE_ACTIONS.items():
        vr = dictionary_VR(tag_for_keyword(keyword))
        if code == "U":
            assert vr == "UI", keyword
        if code == "X/Z/U*":
            assert vr == "SQ", keyword


# --- the de-identifier and the guard on the attributes added with the 2026c edition ---

DEVICE_ID = "SCDEV-ROOM7-0042"
HARDCOPY_ID = "HCDEV-88317"
NAME_TO_USE = "JOHNNYBOY QUENTIN"
TABLE_TOP_UID = "1.2.826.0.1.3680043.8.498.1000000000077"
ANNOTATION_GROUP_UID = "1.2.826.0.1.3680043.8.498.1000000000078"
NOTES = ("CONTEXTNOTE7731", "WAVENOTE5521", "UNFORMATTEDNOTE9913", "ETHNICGROUPX4242")


def _source() -> Dataset:
    ds = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid="1.2.826.0.1.3680043.8.498.5")
    ethnic = Dataset()
    ethnic.CodeValue = "ETHNICCODE1234"
    ethnic.CodingSchemeDesignator = "99LOCAL"
    ethnic.CodeMeaning = "ETHNICMEANING8765"
    ds.EthnicGroupCodeSequence = Sequence([ethnic])
    ds.SecondaryCaptureDeviceID = DEVICE_ID
    ds.HardcopyCreationDeviceID = HARDCOPY_ID  # retired, still in the table
    ds.TableTopPositionAlignmentUID = TABLE_TOP_UID
    ds.AnnotationGroupUID = ANNOTATION_GROUP_UID  # a UID with action D
    ds.AcquisitionContextDescription = NOTES[0]
    annotation = Dataset()
    annotation.UnformattedTextValue = NOTES[1]
    ds.WaveformAnnotationSequence = Sequence([annotation])
    ds.UnformattedTextValue = NOTES[2]
    # newer than pydicom's dictionary: Name to Use (LT), Ethnic Groups (UC)
    ds.add_new(0x00100012, "LT", NAME_TO_USE)
    ds.add_new(0x00102162, "UC", NOTES[3])
    return ds


@pytest.fixture(params=["explicit", "implicit"])
def source_file(request, tmp_path):
    ds = _source()
    if request.param == "implicit":  # unknown attributes come back as UN
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return write_dataset(tmp_path / "src" / "new.dcm", ds)


def test_deidentifier_acts_on_the_new_attributes(source_file, tmp_path):
    source = pydicom.dcmread(source_file)
    clean = deidentify_dataset(source, Pseudonymizer(SECRET))
    removed = [
        "EthnicGroupCodeSequence",
        "SecondaryCaptureDeviceID",
        "HardcopyCreationDeviceID",
        "AcquisitionContextDescription",
        "WaveformAnnotationSequence",  # X/D: the strictest branch, removed
    ]
    assert not [keyword for keyword in removed if keyword in clean]
    assert 0x00100012 not in clean and 0x00102162 not in clean
    assert clean.UnformattedTextValue == DUMMY_VALUES["ST"]  # D
    for keyword, value in (
        ("TableTopPositionAlignmentUID", TABLE_TOP_UID),  # U
        ("AnnotationGroupUID", ANNOTATION_GROUP_UID),  # D on a UID: a keyed UID too
    ):
        assert clean[keyword].value.startswith("2.25."), keyword
        assert clean[keyword].value == Pseudonymizer(SECRET).uid(value)
    path = write_dataset(tmp_path / "out" / "clean.dcm", clean)
    data = path.read_bytes()
    for value in (DEVICE_ID, HARDCOPY_ID, NAME_TO_USE, TABLE_TOP_UID, ANNOTATION_GROUP_UID):
        assert value.encode() not in data
    for value in (*NOTES, "ETHNICCODE1234", "ETHNICMEANING8765"):
        assert value.encode() not in data


def test_guard_looks_for_the_new_identifiers(source_file, tmp_path):
    found = collect_identifiers([source_file.parent]).identifiers
    expected = {
        Identifier("device", DEVICE_ID),
        Identifier("device", HARDCOPY_ID),
        Identifier("patient_name", NAME_TO_USE),
        Identifier("uid", TABLE_TOP_UID),
        Identifier("uid", ANNOTATION_GROUP_UID),
    }
    assert expected <= found
    out = tmp_path / "build"
    out.mkdir()
    planted = {
        "device.md": (f"captured on {DEVICE_ID.lower()}", "device"),
        "hardcopy.md": (f"printed on {HARDCOPY_ID}", "device"),
        "names.csv": ("who\nQuentin, Johnnyboy\n", "patient_name"),
        "table.json": (f'{{"uid": "{TABLE_TOP_UID}"}}', "uid"),
        "group.txt": (f"group {ANNOTATION_GROUP_UID}", "uid"),
    }
    for name, (text, _kind) in planted.items():
        (out / name).write_text(text)
    kinds = {(finding.path.name, finding.kind) for finding in scan([out], found)}
    assert {(name, kind) for name, (_text, kind) in planted.items()} <= kinds
    for name in planted:
        (out / name).unlink()
    # the de-identified file holds none of them
    clean = deidentify_dataset(pydicom.dcmread(source_file), Pseudonymizer(SECRET))
    write_dataset(out / "clean.dcm", clean)
    assert not [f for f in scan([out], expected) if f.kind in {"device", "uid", "patient_name"}]


def test_header_dumps_of_the_new_identifiers_are_flagged_without_identifiers(tmp_path):
    ds = _source()
    assert Identifier("device", DEVICE_ID) in identifiers_from_dataset(ds)
    (tmp_path / "dump.txt").write_text(str(ds))
    (tmp_path / "pairs.txt").write_text(f"NameToUse = {NAME_TO_USE.split()[0]}\n")
    details = [str(finding) for finding in scan([tmp_path], [])]
    assert any("SecondaryCaptureDeviceID" in detail for detail in details), details
    assert any("NameToUse" in detail for detail in details), details
    assert not any(DEVICE_ID in detail or NAME_TO_USE in detail for detail in details)


@pytest.fixture
def pydicom_names_name_to_use():
    """pydicom's dictionary as a later release will have it: (0010,0012) named NameToUse."""
    known = keyword_for_tag(0x00100012) != ""  # pydicom 3.0 does not know it
    if not known:
        add_dict_entry(0x00100012, "LT", "NameToUse", "Name to Use")
    try:
        yield
    finally:
        if not known:
            DicomDictionary.pop(0x00100012, None)
            keyword_dict.pop("NameToUse", None)


def test_rows_keyed_by_tag_still_apply_once_pydicom_names_them(pydicom_names_name_to_use):
    ds = _source()
    assert ds[0x00100012].keyword == "NameToUse"
    assert 0x00100012 not in deidentify_dataset(ds, Pseudonymizer(SECRET))
    assert Identifier("patient_name", NAME_TO_USE) in identifiers_from_dataset(ds)
