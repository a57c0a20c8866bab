"""The layers of a file the identifier guard reads: its bytes as text, and its structure.

:func:`raw_layers` gives the bytes as UTF-8 text (Latin-1 when not UTF-8), UTF-16 and
decoded hex runs; :func:`file_layers` adds what the file's structure holds: JSON strings,
notebook PNG outputs, HTML entities, CSV headers, PNG text chunks, gzip and zip members,
DICOM headers and parquet cells (see :mod:`mpirad.privacy.guard`).
"""

from __future__ import annotations

import base64
import csv
import gzip
import html
import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from mpirad.io.dicom import quiet_pydicom

#: Largest member of a gzip/zip file that is decompressed and scanned (bytes).
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024

_HEX_RUN = re.compile(rb"[0-9A-Fa-f]{2}(?:[ :]?[0-9A-Fa-f]{2}){3,}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Layer:
    name: str
    text: str
    line_numbers: bool = False
    columns: list[str] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)
    patterns: bool = True


def _json_strings(node: object, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(str(key))
            _json_strings(value, out)
    elif isinstance(node, list):
        for item in node:
            _json_strings(item, out)
    elif isinstance(node, str):
        out.append(node)


def _png_texts(data: bytes) -> list[str]:
    """The text chunks (tEXt, zTXt, iTXt) and eXIf of a PNG file."""
    texts: list[str] = []
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        try:
            if kind == b"tEXt":
                texts.append(body.decode("latin-1"))
            elif kind == b"zTXt":
                keyword, _, rest = body.partition(b"\x00")
                texts.append(
                    keyword.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1")
                )
            elif kind == b"iTXt":
                keyword, _, rest = body.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _language, _, rest = rest.partition(b"\x00")
                _translated, _, value = rest.partition(b"\x00")
                raw = zlib.decompress(value) if compressed else value
                texts.append(keyword.decode("latin-1") + " " + raw.decode("utf-8", "replace"))
            elif kind == b"eXIf":
                texts.append(body.decode("latin-1"))
        except (zlib.error, IndexError):
            texts.append(f"[unreadable {kind.decode('latin-1')} chunk]")
        if kind == b"IEND":
            break
    return texts


def _dicom_text(data: bytes) -> tuple[str, bool] | None:
    """All string values of a DICOM header, and whether it says PatientIdentityRemoved."""
    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - any unreadable header: the raw layers still cover it
        return None
    values: list[str] = []

    def visit(_dataset: Dataset, elem: DataElement) -> None:
        if elem.VR in ("SQ", "OB", "OW", "UN", "OF", "OD", "OL", "OV"):
            return
        values.append(f"{elem.keyword or elem.tag}: {elem.value}")

    with quiet_pydicom():
        ds.walk(visit)
        if getattr(ds, "file_meta", None) is not None:
            ds.file_meta.walk(visit)
    removed = str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"
    return "\n".join(values), removed


@dataclass(frozen=True)
class LayerOptions:
    """What the layers need to know of the matcher."""

    binary: bool  # identifiers to find: also read UTF-16, hex (and Latin-1) layers
    non_ascii: bool = False  # some identifier is non-ASCII: also read Latin-1


def raw_layers(data: bytes, options: LayerOptions) -> Iterator[Layer]:
    """The file's bytes as text, and (with identifiers to find) as UTF-16 and hex.

    UTF-16 text of ASCII characters is found by reading every other byte (both
    alignments), which covers little and big endian; runs of hex digits are decoded.
    These binary layers are only searched for identifiers, not for header patterns.
    """
    text = data.decode("utf-8", errors="replace")
    yield Layer("text", text, line_numbers=True)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        yield Layer("utf-16", data.decode("utf-16", errors="replace"))
    if not options.binary:
        return
    if options.non_ascii and "\ufffd" in text:
        yield Layer("latin-1", data.decode("latin-1"), patterns=False)
    if b"\x00" in data:
        for alignment in (0, 1):
            yield Layer("utf-16", data[alignment::2].decode("latin-1"), patterns=False)
    decoded = []
    for match in _HEX_RUN.finditer(data):
        digits = re.sub(rb"[ :]", b"", match.group())
        digits = digits[: len(digits) // 2 * 2]
        decoded.append(bytes.fromhex(digits.decode("ascii")).decode("utf-8", errors="replace"))
    if decoded:
        yield Layer("hex", "\n".join(decoded), patterns=False)


def _structured_layers(name: str, data: bytes, options: LayerOptions) -> Iterator[Layer]:
    suffix = Path(name).suffix.lower()
    if suffix in (".json", ".ipynb", ".geojson"):
        try:
            document = json.loads(data.decode("utf-8", errors="replace"))
        except ValueError:
            document = None
        if document is not None:
            strings: list[str] = []
            _json_strings(document, strings)
            yield Layer("json", "\n".join(strings))
            if suffix == ".ipynb" and isinstance(document, dict):
                pngs = []
                for cell in document.get("cells", []):
                    for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
                        encoded = (output.get("data") or {}).get("image/png")
                        if isinstance(encoded, str | list):
                            pngs.append("".join(encoded))
                texts = []
                for encoded in pngs:
                    try:
                        texts += _png_texts(base64.b64decode(encoded))
                    except ValueError:
                        continue
                if texts:
                    yield Layer("png text in notebook", "\n".join(texts))
    elif suffix in (".html", ".htm", ".xhtml", ".xml", ".svg") and b"&" in data:
        yield Layer("html", html.unescape(data.decode("utf-8", errors="replace")))
    elif suffix in (".csv", ".tsv"):
        first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        header = next(csv.reader([first_line], delimiter="\t" if suffix == ".tsv" else ","), [])
        yield Layer("csv header", "", columns=header)
    elif suffix == ".parquet":
        yield from _parquet_layers(data)
    elif data.startswith(_PNG_SIGNATURE):
        texts = _png_texts(data)
        if texts:
            yield Layer("png text", "\n".join(texts))
    elif suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                inner = handle.read(MAX_DECOMPRESSED_BYTES)
        except (OSError, EOFError):
            inner = None
        if inner is not None:
            inner_name = name[:-3] if name.lower().endswith(".gz") else name + ".inner"
            for layer in file_layers(inner_name, inner, options):
                yield Layer(f"gzip:{layer.name}", layer.text, False, layer.columns, layer.flags)
    elif data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            archive = None
        if archive is not None:
            for info in archive.infolist():
                if info.is_dir() or info.file_size > MAX_DECOMPRESSED_BYTES:
                    continue
                inner = archive.read(info)
                for layer in file_layers(info.filename, inner, options):
                    name_in_zip = f"zip:{info.filename}:{layer.name}"
                    yield Layer(name_in_zip, layer.text, False, layer.columns, layer.flags)
    if data[128:132] == b"DICM" or suffix in (".dcm", ".dicom"):
        parsed = _dicom_text(data)
        if parsed is not None:
            text, removed = parsed
            flags = [] if removed else [("dicom_file", "not marked PatientIdentityRemoved=YES")]
            yield Layer("dicom header", text, flags=flags)


def _parquet_layers(data: bytes) -> Iterator[Layer]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError):
        return
    cells: list[str] = []
    for column in table.columns:
        try:
            as_text = pc.cast(column, pa.string())
        except (pa.ArrowException, NotImplementedError):
            continue
        cells += [value for value in as_text.to_pylist() if value]
    metadata = table.schema.metadata or {}
    cells += [value.decode("utf-8", errors="replace") for value in metadata.values()]
    yield Layer("parquet", "\n".join(cells), columns=list(table.column_names))


def file_layers(name: str, data: bytes, options: LayerOptions) -> Iterator[Layer]:
    """Every layer of a file: :func:`raw_layers`, then those of its structure."""
    yield from raw_layers(data, options)
    yield from _structured_layers(name, data, options)
