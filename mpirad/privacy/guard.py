"""The identifier guard: scan outputs for patient identifiers and DICOM-header leaks.

:func:`scan` reads every file under the given paths and looks for

1. the given identifiers (:class:`~mpirad.privacy.identifiers.Identifier`), matched as
   described in :mod:`mpirad.privacy.identifiers`, in several layers of each file:

   - its bytes as UTF-8 text (this covers CSV/TSV, logs, Markdown, HTML, JS, and any
     ASCII that sits inside a binary file), and as Latin-1 when it is not valid UTF-8;
   - UTF-16 text (runs of ASCII characters interleaved with NUL bytes, or the whole file
     after a byte-order mark), and runs of hexadecimal digits decoded to bytes;
   - structure: JSON and notebooks (decoded string values, incl. ``\\u`` escapes), HTML
     entities, parquet cells and column names, PNG text chunks (also compressed ones, and
     PNG outputs embedded in notebooks), DICOM headers, gzip members (e.g. ``.nii.gz``)
     and zip/npz members;

2. patterns that look like a DICOM header whatever the identifiers (so the guard is
   useful with no identifiers at all): a pydicom-style dump line of an identifying tag
   with a value, ``PatientName: ...`` / ``"PatientID": "..."``-style keyword-value pairs,
   DICOM JSON model entries of identifying tags with a ``Value``, a date of birth in
   ``YYYYMMDD`` or ``YYYY-MM-DD`` next to a birth-date label, table columns named like
   identifiers (``patient_name``, ``mrn``, ``date_of_birth``...), and DICOM files not
   marked ``PatientIdentityRemoved = YES``.

A finding names the file, the layer, the place and the kind of identifier, and shows the
value only masked (``D******e``): the guard never prints an identifier in full.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.datadict import tag_for_keyword

from mpirad.io.files import walk_files
from mpirad.privacy.identifiers import (
    IDENTIFYING_COLUMNS,
    IDENTIFYING_KEYWORDS,
    IDENTIFYING_TAGS,
    Identifier,
    mask,
    normalize_column,
)
from mpirad.privacy.layers import Layer, LayerOptions, file_layers, raw_layers

#: Files larger than this are scanned in overlapping chunks, as raw text only (bytes).
MAX_STRUCTURED_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 64 * 1024 * 1024
CHUNK_OVERLAP = 4096

_LATIN_TOKEN = re.compile(r"[A-Za-z0-9]{4,}")
_BIRTH_ANCHOR = re.compile(r"birth|dob")

#: Values that stand for "no identifier here" in a keyword-value pair.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "",
        "anonymous",
        "anonymized",
        "anonymised",
        "anon",
        "removed",
        "redacted",
        "none",
        "null",
        "nan",
        "n/a",
        "na",
        "unknown",
        "yes",
        "no",
        "true",
        "false",
    }
)
_PSEUDONYM = re.compile(r"(?:P|ST|SE|I)[0-9a-f]{16}|2\.25\.\d{1,39}")

_DUMP_KEYWORDS = (
    sorted(IDENTIFYING_KEYWORDS)
    + [keyword for keyword, _kind in IDENTIFYING_TAGS.values()]
    + ["PatientsName", "PatientsBirthDate"]
)
_KEYWORD_VALUE = re.compile(
    r"(?<![A-Za-z])(?P<key>"
    + "|".join(sorted(_DUMP_KEYWORDS, key=len, reverse=True))
    + r"|Patient's Name|Patient's Birth Date|Patient's Address|Referring Physician's Name)"
    r"[\"']?[ \t]*[:=][ \t]*(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;<>{}\[\]()\"']+)"
)
_IDENTIFYING_TAGS = {
    tag: keyword
    for keyword in IDENTIFYING_KEYWORDS
    if (tag := tag_for_keyword(keyword)) is not None
} | {tag: keyword for tag, (keyword, _kind) in IDENTIFYING_TAGS.items()}
_DUMP_LINE = re.compile(
    r"\((?P<group>[0-9A-Fa-f]{4}),\s?(?P<element>[0-9A-Fa-f]{4})\)[ \t]+[^\n]{1,80}?[ \t]"
    r"(?P<vr>[A-Z]{2}):[ \t]*(?P<value>[^\n]*)"
)
_DICOM_JSON = re.compile(
    r"\"(?P<tag>"
    + "|".join(f"{tag:08X}" for tag in sorted(_IDENTIFYING_TAGS))
    + r")\"\s*:\s*\{[^{}]*\"Value\"\s*:",
    re.IGNORECASE,
)
_BIRTH_DATE = re.compile(
    r"(?i)(?:birth[\s_]*date|date[\s_]+of[\s_]+birth|birthdate|(?<![a-z])dob(?![a-z]))"
    r"[^\n]{0,40}?(?<!\d)(?:19|20)\d\d-?(?:0[1-9]|1[0-2])-?(?:0[1-9]|[12]\d|3[01])(?!\d)"
)
#: Cheap substring checks that must hit before the keyword-value regex runs.
_KEYWORD_ANCHORS = sorted({key[:5] for key in _DUMP_KEYWORDS} | {"Patient's", "Referring"})
_COLUMN_NAMES = {normalize_column(name) for name in IDENTIFYING_COLUMNS if name != "name"} | {
    normalize_column(keyword) for keyword in _DUMP_KEYWORDS
}


@dataclass(frozen=True)
class Finding:
    """One suspected identifier in one file.

    Attributes:
        path: the file.
        kind: the identifier's kind (``patient_name``, ``uid``...) or the pattern's name
            (``dicom_header_dump``, ``identifying_keyword``, ``date_of_birth``...).
        detail: the masked value or a description; never the identifier in full.
        layer: where in the file: ``text``, ``utf-16``, ``hex``, ``json``, ``parquet``,
            ``png text``, ``dicom header``, ``gzip:...``...
        where: ``line N`` for text, else ``offset N`` within the layer.
    """

    path: Path
    kind: str
    detail: str
    layer: str
    where: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} {self.detail} [{self.layer}, {self.where}]"


class IdentifierMatcher:
    """Finds many identifiers in long texts in one pass.

    Each token variant of an identifier is indexed by its longest Latin token; the text's
    Latin tokens are looked up in that index and each hit is confirmed with the variant's
    full pattern around it. Variants without a Latin token of four characters or more
    (non-Latin names, short tokens) are searched with their own pattern.

    Args:
        identifiers: what to look for; those too short to scan are kept in
            :attr:`too_short`.
    """

    def __init__(self, identifiers: Iterable[Identifier]) -> None:
        self.identifiers = frozenset(identifiers)
        #: whether some identifier has non-ASCII characters (then Latin-1 is also read)
        self.non_ascii = any(not item.value.isascii() for item in self.identifiers)
        self.too_short: list[Identifier] = []
        self._index: dict[str, list[tuple[Identifier, re.Pattern[str], int]]] = {}
        self._direct: list[tuple[Identifier, re.Pattern[str]]] = []
        for identifier in sorted(self.identifiers, key=lambda i: (i.kind, i.value)):
            if not identifier.scannable():
                self.too_short.append(identifier)
                continue
            for variant, pattern in zip(
                identifier.token_variants(), identifier.patterns(), strict=True
            ):
                longest = max(variant, key=len)
                if longest.isascii() and len(longest) >= 4:
                    width = sum(map(len, variant)) + 3 * len(variant)
                    self._index.setdefault(longest, []).append((identifier, pattern, width))
                else:
                    self._direct.append((identifier, pattern))

    def __len__(self) -> int:
        return len(self.identifiers)

    def find(self, text: str) -> Iterator[tuple[Identifier, int]]:
        """Yield ``(identifier, position)`` for the first match of each identifier found."""
        if not self.identifiers:
            return
        seen: set[Identifier] = set()
        if self._index:
            for token in _LATIN_TOKEN.finditer(text):
                entries = self._index.get(token.group().lower())
                if not entries:
                    continue
                for identifier, pattern, width in entries:
                    if identifier in seen:
                        continue
                    start = max(0, token.start() - width)
                    hit = pattern.search(text, start, token.end() + width + 1)
                    if hit:
                        seen.add(identifier)
                        yield identifier, hit.start()
        for identifier, pattern in self._direct:
            if identifier not in seen and (hit := pattern.search(text)):
                seen.add(identifier)
                yield identifier, hit.start()


def _is_placeholder(value: str) -> bool:
    text = value.strip().strip("\"'").strip()
    return (
        text.lower() in PLACEHOLDERS
        or bool(_PSEUDONYM.fullmatch(text))
        or text[:1] in ("{", "<", "$", "%")
        or set(text) <= set("*x#-_.^ ")
    )


def _pattern_findings(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield ``(kind, detail, position)`` for DICOM-header-like patterns in ``text``."""
    for match in _DUMP_LINE.finditer(text):
        tag = int(match["group"] + match["element"], 16)
        keyword = _IDENTIFYING_TAGS.get(tag)
        if (keyword or match["vr"] == "PN") and not _is_placeholder(match["value"]):
            label = keyword or "person name"
            value = match["value"].strip().strip("\"'")
            yield "dicom_header_dump", f"{label} = {mask(value)}", match.start()
    if any(anchor in text for anchor in _KEYWORD_ANCHORS):
        for match in _KEYWORD_VALUE.finditer(text):
            if not _is_placeholder(match["value"]):
                value = match["value"].strip("\"'")
                yield "identifying_keyword", f"{match['key']} = {mask(value)}", match.start()
    for match in _DICOM_JSON.finditer(text):
        keyword = _IDENTIFYING_TAGS[int(match["tag"], 16)]
        yield "dicom_json", f"{keyword} with a Value", match.start()
    reported_until = -1
    for anchor in _BIRTH_ANCHOR.finditer(text.lower()):
        # the label starts at most ~20 characters before the anchor ("date of birth")
        start = max(anchor.start() - 20, reported_until)
        match = _BIRTH_DATE.search(text, start, anchor.end() + 60)
        if match:
            reported_until = match.end()
            yield "date_of_birth", mask(match.group()), match.start()


def _column_findings(columns: Iterable[str]) -> Iterator[str]:
    for column in columns:
        if normalize_column(column) in _COLUMN_NAMES:
            yield str(column)


# --------------------------------------------------------------------------- scanning


def iter_files(
    paths: Iterable[str | os.PathLike[str]], exclude: Iterable[str] = ()
) -> Iterator[Path]:
    """Every regular file under ``paths`` (files are taken as they are; ``.git`` skipped).

    Paths that do not exist are skipped (the caller reports them). A file whose path (as
    given, POSIX form) matches one of the ``exclude`` shell patterns (fnmatch; ``*``
    crosses ``/``) is skipped.
    """
    import fnmatch

    patterns = tuple(exclude)

    def excluded(path: Path) -> bool:
        text = path.as_posix()
        return any(fnmatch.fnmatch(text, pattern) for pattern in patterns)

    for root in map(Path, paths):
        if root.is_file():
            if not excluded(root):
                yield root
        elif root.is_dir():
            for path in walk_files(root, hidden=True, skip_dirs={".git"}):
                if path.is_file() and not path.is_symlink() and not excluded(path):
                    yield path


def _location(layer: Layer, position: int) -> str:
    if layer.line_numbers:
        return f"line {layer.text.count(chr(10), 0, position) + 1}"
    return f"offset {position}"


def _scan_bytes(
    path: Path, name: str, data: bytes, matcher: IdentifierMatcher, structured: bool
) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    options = LayerOptions(binary=bool(len(matcher)), non_ascii=matcher.non_ascii)
    layers = file_layers(name, data, options) if structured else raw_layers(data, options)
    for layer in layers:
        for column in _column_findings(layer.columns):
            if ("column", column) not in seen:
                seen.add(("column", column))
                yield Finding(path, "identifying_column", column, layer.name, "header")
        for kind, detail in layer.flags:
            if (kind, detail) not in seen:
                seen.add((kind, detail))
                yield Finding(path, kind, detail, layer.name, "header")
        if not layer.text:
            continue
        for identifier, position in matcher.find(layer.text):
            key = (identifier.kind, identifier.value)
            if key not in seen:
                seen.add(key)
                yield Finding(
                    path, identifier.kind, identifier.masked, layer.name, _location(layer, position)
                )
        if not layer.patterns:
            continue
        for kind, detail, position in _pattern_findings(layer.text):
            if (kind, detail) not in seen:
                seen.add((kind, detail))
                yield Finding(path, kind, detail, layer.name, _location(layer, position))


def scan_file(path: str | os.PathLike[str], matcher: IdentifierMatcher) -> list[Finding]:
    """Scan one file (see the module docstring for what is looked at).

    Raises:
        OSError: when the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size <= MAX_STRUCTURED_BYTES:
        return list(_scan_bytes(path, path.name, path.read_bytes(), matcher, structured=True))
    findings: list[Finding] = []
    with open(path, "rb") as handle:
        offset = 0
        while chunk := handle.read(CHUNK_BYTES):
            for finding in _scan_bytes(path, path.name, chunk, matcher, structured=False):
                where = f"chunk at byte {offset}, {finding.where}"
                findings.append(Finding(path, finding.kind, finding.detail, finding.layer, where))
            offset += len(chunk)
            if len(chunk) == CHUNK_BYTES:
                handle.seek(offset - CHUNK_OVERLAP)
                offset -= CHUNK_OVERLAP
    unique = {(f.kind, f.detail): f for f in findings}
    return list(unique.values())


@dataclass
class ScanReport:
    """The result of :func:`scan_paths`.

    Attributes:
        findings: every finding.
        files: how many files were scanned.
        missing: paths that do not exist (nothing to scan there).
        unreadable: files that could not be read (``path: reason``).
        too_short: identifiers not scanned because they are too short.
    """

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    missing: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    too_short: list[Identifier] = field(default_factory=list)


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    identifiers: Iterable[Identifier | str] = (),
    exclude: Iterable[str] = (),
) -> ScanReport:
    """Scan files and folders for identifiers and DICOM-header-like patterns.

    Args:
        paths: files or folders; those that do not exist are listed in
            :attr:`ScanReport.missing`.
        identifiers: :class:`Identifier` objects or bare strings (kind ``identifier``).
        exclude: shell patterns of files not to scan (see :func:`iter_files`).

    Returns:
        The report; it holds masked values only.
    """
    matcher = IdentifierMatcher(
        item if isinstance(item, Identifier) else Identifier("identifier", str(item))
        for item in identifiers
    )
    paths = [Path(p) for p in paths]
    report = ScanReport(too_short=list(matcher.too_short))
    report.missing = [p for p in paths if not p.exists()]
    for path in iter_files(paths, exclude):
        report.files += 1
        try:
            report.findings += scan_file(path, matcher)
        except OSError as exc:
            report.unreadable.append(f"{path}: {exc.strerror or type(exc).__name__}")
    return report


def scan(
    paths: Iterable[str | os.PathLike[str]], identifiers: Iterable[Identifier | str] = ()
) -> list[Finding]:
    """Scan files and folders; return the findings (see :func:`scan_paths`).

    Args:
        paths: files or folders to scan (missing ones are skipped).
        identifiers: what must not appear (:class:`Identifier` or bare strings).

    Returns:
        The findings; empty when the paths are clean.
    """
    return scan_paths(paths, identifiers).findings


def derived_object_findings(
    written: str | os.PathLike[str],
    sources: Iterable[object],
    own_uids: Iterable[str] = (),
) -> list[Finding]:
    """Identifying values of a DICOM object mpirad derived that its source did not hold.

    A SEG (:func:`mpirad.io.seg.write_seg`) may repeat the source's (pseudonymised)
    patient and study values, which viewers need to file it with the images, but must add
    no other identifier: every identifying value of ``written``
    (:func:`mpirad.privacy.identifiers.identifiers_from_dataset`: names, ids, dates of
    birth, device and institution attributes, replaceable UIDs) must occur among the
    source headers' identifying values, except the UIDs the object made for itself
    (``own_uids``: its SOP Instance, Series and dimension UIDs) and placeholders such as
    the DeviceSerialNumber ``none`` of software (the guard's :data:`PLACEHOLDERS`).

    Args:
        written: the derived DICOM file.
        sources: the source headers (pydicom Datasets) or their paths.
        own_uids: the derived object's own new UIDs.

    Returns:
        One finding (kind ``not_in_source``, masked value) per value the source lacks.
    """
    import pydicom

    from mpirad.io.dicom import quiet_pydicom
    from mpirad.privacy.identifiers import identifiers_from_dataset

    def header(item: object):
        if isinstance(item, pydicom.Dataset):
            return item
        with quiet_pydicom():
            return pydicom.dcmread(item, stop_before_pixels=True)

    allowed = {str(uid) for uid in own_uids}
    for source in sources:
        allowed |= {identifier.value for identifier in identifiers_from_dataset(header(source))}
    path = Path(written)
    found = identifiers_from_dataset(header(path))
    return [
        Finding(
            path,
            "not_in_source",
            f"{identifier.kind} {identifier.masked}",
            "dicom header",
            "header",
        )  # fmt: skip
        for identifier in sorted(found, key=lambda i: (i.kind, i.value))
        if identifier.value not in allowed and not _is_placeholder(identifier.value)
    ]


def _dicom_header(path: Path):
    """The header of a DICOM file (``DICM`` at byte 128), else None."""
    import pydicom

    from mpirad.io.dicom import quiet_pydicom

    try:
        with open(path, "rb") as handle:
            if handle.read(132)[128:132] != b"DICM":
                return None
        with quiet_pydicom():
            return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - unreadable: the ordinary scan reports it
        return None


@dataclass
class DerivedReport:
    """What :func:`check_derived_objects` found.

    Attributes:
        objects: the derived DICOM objects (SEG, SR) found under the paths.
        findings: identifying values they hold that their sources do not, and objects
            whose source images are not under the source folders.
    """

    objects: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def check_derived_objects(
    paths: Iterable[str | os.PathLike[str]], source_roots: Iterable[str | os.PathLike[str]]
) -> DerivedReport:
    """Check every DICOM SEG and SR under ``paths`` against the objects they derive from.

    A SEG's source images are the instances its ReferencedSeriesSequence names, found by
    SOP Instance UID among the DICOM files under ``source_roots``; an SR's (``mpirad
    extract --sr``) are the instances of its evidence sequences (its SEG, found under
    ``paths`` or ``source_roots``). Each object must hold no
    identifying value its sources lack (:func:`derived_object_findings`; its own
    instance, series and dimension UIDs aside); a SEG whose sources are not there is a
    finding (``derived_source_missing``), since it cannot be checked.
    """
    from mpirad.io.seg import own_uids

    report = DerivedReport()
    derived = []
    sources = {}
    for path in iter_files(paths):
        header = _dicom_header(path)
        if header is not None and header.get("Modality") in ("SEG", "SR"):
            derived.append((path, header))
            sources[str(header.get("SOPInstanceUID", ""))] = header
    if not derived:
        return report
    for path in iter_files(source_roots):
        header = _dicom_header(path)
        if header is not None:
            sources.setdefault(str(header.get("SOPInstanceUID", "")), header)
    for path, header in derived:
        report.objects.append(path)
        referenced = [
            str(item.ReferencedSOPInstanceUID)
            for series in header.get("ReferencedSeriesSequence") or []
            for item in series.get("ReferencedInstanceSequence") or []
        ] + [
            str(item.ReferencedSOPInstanceUID)
            for keyword in (
                "CurrentRequestedProcedureEvidenceSequence",
                "PertinentOtherEvidenceSequence",
            )  # fmt: skip
            for study in header.get(keyword) or []
            for series in study.get("ReferencedSeriesSequence") or []
            for item in series.get("ReferencedSOPSequence") or []
        ]
        found = [sources[uid] for uid in referenced if uid in sources]
        if not found:
            report.findings.append(
                Finding(
                    path,
                    "derived_source_missing",
                    "source images not under the source folders: cannot check",
                    "dicom header",
                    "header",
                )  # fmt: skip
            )
            continue
        report.findings += derived_object_findings(path, found, own_uids=own_uids(header))
    return report
