"""Patient identifiers: what they are, where they come from, how they are matched.

The identifier guard (:mod:`mpirad.privacy.guard`) needs the identifiers that must never
reach ``build/`` or the book. They are never stored under ``build/``; they come from:

- the source DICOM headers, read again by :func:`collect_identifiers` (patient and staff
  names, patient IDs, birth date, accession and order numbers, institution, device
  serial and IDs, addresses and telephone numbers, and every UID that the Annex E
  profile removes or replaces);
- the identifying columns of a site's tables (:data:`IDENTIFYING_COLUMNS`, e.g.
  ``patient_name``, ``mrn``, ``date_of_birth``) under a dataset root;
- a private identifiers file that the site keeps outside the repository
  (:func:`read_identifiers_file`; one ``kind<TAB>value`` or bare value per line).

Matching (:meth:`Identifier.patterns`): an identifier is a sequence of alphanumeric
tokens that must appear in order, case-insensitive, separated by at most three other
characters (so ``DOE^JOHN``, ``Doe, John`` and ``doe_john`` all match the name
``Doe^John``), and not glued to further letters or digits. Names also match with the
given name first; birth dates also match as ``YYYY-MM-DD``, ``DD.MM.YYYY`` and
``MM/DD/YYYY``. Identifiers with fewer than four alphanumeric characters (two for
non-Latin scripts) are too short to scan without flooding false alarms; they are counted
and reported as not scanned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import PersonName

from mpirad.io.dicom import quiet_pydicom
from mpirad.io.files import walk_files
from mpirad.privacy.annex_e import ACTIONS_BY_TAG

#: DICOM keywords whose values are identifiers, and the kind reported for each.
IDENTIFYING_KEYWORDS: dict[str, str] = {
    "PatientName": "patient_name",
    "OtherPatientNames": "patient_name",
    "PatientBirthName": "patient_name",
    "PatientMotherBirthName": "patient_name",
    "PatientID": "patient_id",
    "OtherPatientIDs": "patient_id",
    "MedicalRecordLocator": "patient_id",
    "AdmissionID": "patient_id",
    "PatientBirthDate": "birth_date",
    "AccessionNumber": "accession_number",
    "StudyID": "study_id",
    "RequestedProcedureID": "order_number",
    "ScheduledProcedureStepID": "order_number",
    "PerformedProcedureStepID": "order_number",
    "PlacerOrderNumberImagingServiceRequest": "order_number",
    "FillerOrderNumberImagingServiceRequest": "order_number",
    "PatientAddress": "address",
    "PatientTelephoneNumbers": "telephone",
    "InstitutionName": "institution",
    "InstitutionAddress": "address",
    "InstitutionalDepartmentName": "institution",
    "ReferringPhysicianAddress": "address",
    "ReferringPhysicianTelephoneNumbers": "telephone",
    "StationName": "device",
    "DeviceSerialNumber": "device",
    "SecondaryCaptureDeviceID": "device",
    "HardcopyCreationDeviceID": "device",
}

#: Identifying attributes that pydicom's data dictionary (3.0) does not know yet, by tag:
#: their keyword in the standard and the kind reported (see :data:`IDENTIFYING_KEYWORDS`).
IDENTIFYING_TAGS: dict[int, tuple[str, str]] = {
    0x00100012: ("NameToUse", "patient_name"),  # (0010,0012), PS3.15 Table E.1-1: X
}

#: Column names (lower case, spaces and hyphens as ``_``) of a site's tables that hold
#: identifiers, and the kind of each. A dataset's own pseudonymous ``patient_id`` is not
#: one of them.
IDENTIFYING_COLUMNS: dict[str, str] = {
    "patient_name": "patient_name",
    "patientname": "patient_name",
    "name": "patient_name",
    "full_name": "patient_name",
    "first_name": "given_name",
    "given_name": "given_name",
    "last_name": "family_name",
    "family_name": "family_name",
    "surname": "family_name",
    "mrn": "patient_id",
    "medical_record_number": "patient_id",
    "hospital_number": "patient_id",
    "hospital_id": "patient_id",
    "his_id": "patient_id",
    "national_id": "patient_id",
    "ssn": "patient_id",
    "social_security_number": "patient_id",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "birth_date": "birth_date",
    "birthdate": "birth_date",
    "accession": "accession_number",
    "accession_number": "accession_number",
    "phone": "telephone",
    "telephone": "telephone",
    "address": "address",
    "email": "email",
}

#: Kinds whose values are person names (parsed as DICOM PN, matched in both name orders).
NAME_KINDS: frozenset[str] = frozenset({"patient_name", "person_name"})
#: Fewest alphanumeric characters an identifier needs to be scanned (Latin / other scripts).
MIN_SCAN_CHARS = 4
MIN_SCAN_CHARS_NON_LATIN = 2

_TOKEN = re.compile(r"[^\W_]+")
_SEPARATOR = r"[\W_]{1,3}"
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def normalize_column(name: str) -> str:
    """A column name in the form used by :data:`IDENTIFYING_COLUMNS`."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def mask(value: str) -> str:
    """A value with all but its first and last characters hidden (``D******e``)."""
    text = str(value)
    if len(text) <= 4:
        return text[:1] + "*" * max(len(text) - 1, 0)
    return text[0] + "*" * (len(text) - 2) + text[-1]


@dataclass(frozen=True)
class Identifier:
    """One value that must not appear in any output.

    Attributes:
        kind: what it is (``patient_name``, ``patient_id``, ``birth_date``, ``uid``, ...).
        value: the value as the source spells it (DICOM PN with ``^`` for names).
    """

    kind: str
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Identifier(kind={self.kind!r}, value={mask(self.value)!r})"

    @property
    def masked(self) -> str:
        """The value with its middle hidden, for messages."""
        return mask(self.value)

    def token_variants(self) -> list[tuple[str, ...]]:
        """The token sequences that count as this identifier (lower case, deduplicated)."""
        variants: list[tuple[str, ...]] = []
        if self.kind in NAME_KINDS:
            for group in str(PersonName(self.value)).split("="):
                parts = [_tokens(part) for part in group.split("^")]
                family, given, middle = (parts + [[], [], []])[:3]
                if family and given:
                    variants += [
                        (*family, *given),
                        (*given, *family),
                        (*family, *given, *middle),
                        (*given, *middle, *family),
                    ]
                    if not _is_latin("".join(family + given)):
                        variants.append(("".join(family + given),))
                elif group.strip():
                    # one component (e.g. "John Doe" written without "^"): also reversed
                    tokens = _tokens(group)
                    variants += [tuple(tokens), tuple(reversed(tokens))]
        elif self.kind == "birth_date" and (date := _DATE.fullmatch(self.value.strip())):
            year, month, day = date.groups()
            variants += [(year + month + day,), (year, month, day), (day, month, year)]
            variants.append((month, day, year))
        else:
            variants.append(tuple(_tokens(self.value)))
        unique: list[tuple[str, ...]] = []
        for variant in variants:
            if variant and variant not in unique:
                unique.append(variant)
        return unique

    def scannable(self) -> bool:
        """Whether the identifier is long enough to be scanned (see module docstring)."""
        tokens = "".join(self.token_variants()[:1][0]) if self.token_variants() else ""
        minimum = MIN_SCAN_CHARS if _is_latin(tokens) else MIN_SCAN_CHARS_NON_LATIN
        return len(tokens) >= minimum

    def patterns(self) -> list[re.Pattern[str]]:
        """Compiled regular expressions, one per token variant (case-insensitive)."""
        patterns = []
        for variant in self.token_variants():
            body = _SEPARATOR.join(re.escape(token) for token in variant)
            if _is_latin("".join(variant)):
                before, after = r"(?<![^\W_])", r"(?![^\W_])"
                if self.kind == "uid":
                    before, after = r"(?<![\d.])", r"(?!\.?\d)"
                body = before + body + after
            patterns.append(re.compile(body, re.IGNORECASE))
        return patterns


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(str(text))]


def _is_latin(text: str) -> bool:
    return text.isascii()


def _iter_values(value: object) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, bytes):
        return
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        for item in value:  # type: ignore[union-attr]
            yield from _iter_values(item)
        return
    text = str(value).strip()
    if text:
        yield text


def _kind_of(elem: DataElement) -> str | None:
    keyword = elem.keyword
    if keyword in IDENTIFYING_KEYWORDS:
        return IDENTIFYING_KEYWORDS[keyword]
    if int(elem.tag) in IDENTIFYING_TAGS:
        return IDENTIFYING_TAGS[int(elem.tag)][1]
    if elem.VR == "PN":
        return "person_name"
    if elem.VR == "UI" and int(elem.tag) in ACTIONS_BY_TAG:
        return "uid"  # a UID that the profile removes or replaces
    return None


def _decoded(elem: DataElement) -> object:
    """The value of ``elem``; text for an attribute read as UN (unknown to pydicom)."""
    if elem.VR == "UN" and isinstance(elem.value, bytes):
        return elem.value.decode("utf-8", "replace").strip(" \x00")
    return elem.value


def identifiers_from_dataset(ds: Dataset) -> set[Identifier]:
    """The identifiers in one DICOM header, at any depth of nesting (file meta included).

    Args:
        ds: a header as read by pydicom.

    Returns:
        One :class:`Identifier` per identifying value (see :data:`IDENTIFYING_KEYWORDS`
        and :data:`IDENTIFYING_TAGS`; any person name; any UID that Annex E removes or
        replaces). Private attributes are skipped.
    """
    found: set[Identifier] = set()

    def visit(_dataset: Dataset, elem: DataElement) -> None:
        if elem.tag.is_private or elem.VR == "SQ":
            return
        kind = _kind_of(elem)
        if kind is None:
            return
        for value in _iter_values(_decoded(elem)):
            found.add(Identifier(kind, value))

    with quiet_pydicom():
        ds.walk(visit)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            meta.walk(visit)
    return found


def identifiers_from_table(table: pd.DataFrame) -> set[Identifier]:
    """Identifiers in the identifying columns (:data:`IDENTIFYING_COLUMNS`) of a table.

    ``first_name``/``last_name`` style columns of one row are also combined into a name.
    """
    columns = {normalize_column(column): column for column in table.columns}
    kinds = {norm: IDENTIFYING_COLUMNS[norm] for norm in columns if norm in IDENTIFYING_COLUMNS}
    if "name" in kinds and not ({"patient_id"} | (set(kinds) - {"name"})) & set(columns):
        # a bare "name" column is a person's name only in a table about patients
        del kinds["name"]
    found: set[Identifier] = set()
    given_columns = [columns[c] for c, kind in kinds.items() if kind == "given_name"]
    family_columns = [columns[c] for c, kind in kinds.items() if kind == "family_name"]
    for norm, kind in kinds.items():
        for value in table[columns[norm]].dropna().astype(str):
            value = value.strip()
            if not value:
                continue
            if kind == "birth_date":
                iso = re.fullmatch(r"(\d{4})\D?(\d{2})\D?(\d{2})(?:[ T].*)?", value)
                value = "".join(iso.groups()) if iso else value
            found.add(Identifier("patient_name" if kind.endswith("_name") else kind, value))
    for given_column in given_columns:
        for family_column in family_columns:
            pairs = table[[family_column, given_column]].dropna().astype(str)
            for family, given in pairs.itertuples(index=False):
                if family.strip() and given.strip():
                    found.add(Identifier("patient_name", f"{family.strip()}^{given.strip()}"))
    return found


@dataclass
class IdentifierCollection:
    """What :func:`collect_identifiers` found.

    Attributes:
        identifiers: the identifiers (never written anywhere by mpirad itself).
        dicom_files: how many DICOM headers were read.
        tables: how many tables with identifying columns were read.
        problems: files that looked like DICOM or tables but could not be read.
    """

    identifiers: set[Identifier] = field(default_factory=set)
    dicom_files: int = 0
    tables: int = 0
    problems: list[str] = field(default_factory=list)


def _looks_like_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def read_header_lenient(path: str | os.PathLike[str], *, pixels: bool = False) -> Dataset:
    """Read a DICOM file, also one without the 128-byte preamble and ``DICM`` marker.

    Args:
        path: the file.
        pixels: also read the pixel data (default: header only).

    Raises:
        InvalidDicomError: the file is not DICOM (even a forced read finds no SOP class,
            patient ID or pixel data).
    """
    with quiet_pydicom():
        try:
            return pydicom.dcmread(path, stop_before_pixels=not pixels)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
            if not {"SOPClassUID", "PatientID", "PixelData"} & set(ds.dir()):
                raise
            return ds


def collect_identifiers(roots: Iterable[str | os.PathLike[str]]) -> IdentifierCollection:
    """Read the identifiers of a site's source data again, for the guard.

    Every DICOM file under the roots (by ``.dcm`` suffix or the ``DICM`` marker) gives its
    header's identifiers (:func:`identifiers_from_dataset`); every CSV/TSV table gives the
    values of its identifying columns (:func:`identifiers_from_table`).

    Args:
        roots: files or folders (e.g. the DICOM source of ``mpirad export-dicom`` and a
            site dataset's root).

    Returns:
        The identifiers, with counts and the files that could not be read.

    Raises:
        FileNotFoundError: when a root does not exist.
    """
    collection = IdentifierCollection()
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"identifier source {root} does not exist")
        for path in walk_files(root):
            suffix = path.suffix.lower()
            if suffix in (".csv", ".tsv"):
                try:
                    table = pd.read_csv(
                        path,
                        sep="\t" if suffix == ".tsv" else ",",
                        dtype=str,
                        keep_default_na=False,
                        encoding_errors="replace",
                    )
                except (OSError, ValueError, pd.errors.ParserError) as exc:
                    collection.problems.append(f"{path}: unreadable table ({type(exc).__name__})")
                    continue
                found = identifiers_from_table(table)
                if found:
                    collection.tables += 1
                    collection.identifiers |= found
            elif _looks_like_dicom(path):
                try:
                    ds = read_header_lenient(path)
                except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
                    collection.problems.append(f"{path}: unreadable DICOM ({type(exc).__name__})")
                    continue
                collection.dicom_files += 1
                collection.identifiers |= identifiers_from_dataset(ds)
    return collection


def read_identifiers_file(path: str | os.PathLike[str]) -> set[Identifier]:
    """Read a private identifiers file.

    Format: UTF-8 text, one identifier per line, either ``kind<TAB>value`` (kinds as in
    :data:`IDENTIFYING_KEYWORDS`, e.g. ``patient_name<TAB>DOE^JOHN``) or a bare value
    (kind ``identifier``); blank lines and lines starting with ``#`` are ignored.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when a line has more than one tab.
    """
    path = Path(path)
    found: set[Identifier] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) > 2:
            raise ValueError(f"{path}, line {number}: expected 'kind<TAB>value' or a value")
        kind, value = (parts[0].strip(), parts[1]) if len(parts) == 2 else ("identifier", parts[0])
        if value.strip():
            found.add(Identifier(kind or "identifier", value.strip()))
    return found


def check_identifiers_destination(
    path: str | os.PathLike[str], *, forbidden_roots: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """The resolved ``path``, if a private identifiers file may be written there.

    Raises:
        ValueError: when ``path`` is inside a folder named ``build`` or ``_build``, or
            inside one of ``forbidden_roots``.
    """
    target = Path(path).expanduser().resolve()
    if {"build", "_build"} & set(target.parts[:-1]):
        raise ValueError(f"refusing to write identifiers to {path}: it is under build/ or _build/")
    for root in forbidden_roots:
        root_path = Path(root).expanduser().resolve()
        if target == root_path or root_path in target.parents:
            raise ValueError(f"refusing to write identifiers to {path}: it is inside {root}")
    return target


def write_identifiers_file(
    path: str | os.PathLike[str],
    identifiers: Iterable[Identifier],
    *,
    forbidden_roots: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write a private identifiers file (mode 0600) for later ``mpirad guard --identifiers``.

    Refuses any place where outputs are published: inside a folder named ``build`` or
    ``_build``, or inside one of ``forbidden_roots`` (e.g. the export's DST).

    Args:
        path: the file to write, e.g. in the site's private folder.
        identifiers: what to write.
        forbidden_roots: folders the file must not be inside.

    Returns:
        The path written.

    Raises:
        ValueError: when ``path`` is in a forbidden place.
    """
    from mpirad.io.atomic import atomic_write

    target = check_identifiers_destination(path, forbidden_roots=forbidden_roots)
    lines = ["# mpirad private identifiers list: keep outside the repository and build/"]
    lines += [
        f"{item.kind}\t{item.value}"
        for item in sorted(identifiers, key=lambda i: (i.kind, i.value))
        if "\n" not in item.value and "\t" not in item.value
    ]
    with atomic_write(target, "w", encoding="utf-8") as handle:
        os.chmod(handle.name, 0o600)
        handle.write("\n".join(lines) + "\n")
    return target
