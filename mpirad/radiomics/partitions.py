"""The feature store of a cohort extraction: one parquet partition per block of patients.

:func:`mpirad.radiomics.extract_cohort` hands patients to its workers in blocks (at most
:data:`PATIENTS_PER_PARTITION`); a worker writes its block's features as one partition
(``part-<digest>.parquet``, atomically) as soon as the block is done, and returns only a
summary, so the memory of the run does not grow with the cohort. A partition lists its
(patient, ROI) cases with the stamp of their input files (:meth:`VolumesLayout.case_stamp`)
in its parquet metadata: a rerun reads these footers only, keeps every case whose stamp is
unchanged and computes the others, so a run killed at any point resumes from its finished
partitions, and a changed image or mask is recomputed. Failed cases are left out of the
partition (the rerun retries them). The final table is assembled from the partitions.

Layout of one partition: columns ``patient_id``, ``roi``, ``key``
(``n_bins|family|name|ibsi_code|aggregation``, dictionary-encoded), ``value`` (float64);
metadata ``mpirad`` (JSON): ``cases`` (``[patient_id, roi, stamp, rows]`` in row order)
and ``spacing`` (patient id -> voxel size, mm).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.constants import ROI_NAMES
from mpirad.io import atomic_path
from mpirad.radiomics.ibsi import FAMILIES

#: The most patients a partition holds (fewer when the cohort is small for the workers).
PATIENTS_PER_PARTITION = 32
#: Blocks per worker aimed at, so that the workers stay busy to the end.
BLOCKS_PER_WORKER = 4
#: Metadata key of a partition's case list.
METADATA_KEY = b"mpirad"

#: One computed case: ``(patient_id, roi, stamp, keys, values)``.
Case = tuple[str, str, str, np.ndarray, np.ndarray]
#: One case of the final table: ``(patient_id, roi, keys, values)``.
Piece = tuple[str, str, np.ndarray, np.ndarray]


def block_size(n_patients: int, workers: int) -> int:
    """Patients per block: at most :data:`PATIENTS_PER_PARTITION`, and small enough to give
    every worker about :data:`BLOCKS_PER_WORKER` blocks."""
    share = math.ceil(n_patients / max(1, workers * BLOCKS_PER_WORKER))
    return max(1, min(PATIENTS_PER_PARTITION, share))


def blocks(items: Sequence, size: int) -> list[tuple]:
    """``items`` in consecutive blocks of ``size``."""
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def write_partition(
    folder: str | Path, cases: Sequence[Case], spacings: dict[str, tuple[float, ...]]
) -> Path | None:
    """Write ``cases`` as one partition in ``folder`` (atomically); ``None`` if empty."""
    if not cases:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    lengths = [len(c[4]) for c in cases]
    listing = [[p, r, s, n] for (p, r, s, _, _), n in zip(cases, lengths, strict=True)]
    metadata = {
        "cases": listing,
        "spacing": {p: [float(v) for v in spacings[p]] for p in {c[0] for c in cases}},
    }
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
    table = pa.table(
        {
            "patient_id": pa.array(np.repeat([c[0] for c in cases], lengths)),
            "roi": pa.array(np.repeat([c[1] for c in cases], lengths)),
            "key": pa.array(np.concatenate([c[3] for c in cases])).dictionary_encode(),
            "value": pa.array(np.concatenate([c[4] for c in cases]), type=pa.float64()),
        }
    ).replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    path = Path(folder) / f"part-{digest}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def partition_files(folder: str | Path) -> list[Path]:
    """The finished partitions of ``folder`` (not the hidden temporaries being written)."""
    return sorted(p for p in Path(folder).glob("part-*.parquet"))


def _metadata(path: Path) -> dict | None:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata[METADATA_KEY])
    except (OSError, ValueError, KeyError):
        return None  # unreadable (e.g. damaged): its cases are recomputed


def read_index(folder: str | Path) -> dict[tuple[str, str], tuple[Path, str]]:
    """(patient_id, roi) -> (partition, stamp) of every case stored in ``folder``."""
    index: dict[tuple[str, str], tuple[Path, str]] = {}
    for path in partition_files(folder):
        metadata = _metadata(path)
        for patient_id, roi, stamp, _ in (metadata or {}).get("cases", []):
            index[(patient_id, roi)] = (path, stamp)
    return index


def cached_cases(folder: str | Path) -> set[tuple[str, str]]:
    """The (patient_id, roi) cases stored in ``folder``, whatever their stamps."""
    return set(read_index(folder))


def read_pieces(
    selection: dict[Path, set[tuple[str, str]]],
) -> tuple[list[Piece], dict[str, tuple[float, ...]]]:
    """The selected cases of each partition, and their patients' voxel sizes.

    Cases sharing their list of keys share one key array (memory).
    """
    import pyarrow.parquet as pq

    pieces: list[Piece] = []
    spacings: dict[str, tuple[float, ...]] = {}
    shared: dict[bytes, np.ndarray] = {}
    for path, wanted in sorted(selection.items()):
        table = pq.read_table(path, columns=["key", "value"])
        metadata = json.loads(table.schema.metadata[METADATA_KEY])
        key = table.column("key").combine_chunks()
        dictionary = np.array(key.dictionary.to_pylist(), dtype=str)
        indices = key.indices.to_numpy(zero_copy_only=False)
        vocabulary = hashlib.sha256(dictionary.tobytes()).digest()
        values = table.column("value").to_numpy()
        start = 0
        for patient_id, roi, _, rows in metadata["cases"]:
            stop = start + rows
            if (patient_id, roi) in wanted:
                signature = vocabulary + indices[start:stop].tobytes()
                keys = shared.get(signature)
                if keys is None:
                    keys = shared.setdefault(signature, dictionary[indices[start:stop]])
                pieces.append((patient_id, roi, keys, values[start:stop].copy()))
                spacings[patient_id] = tuple(metadata["spacing"][patient_id])
            start = stop
    return pieces, spacings


def prune(folder: str | Path, kept: Iterable[Path], covered: set[tuple[str, str]]) -> list[Path]:
    """Remove the partitions not ``kept`` whose every case is in ``covered`` (the cases
    of this run: superseded by a newer partition, or stale); return them."""
    kept = set(kept)
    removed = []
    for path in partition_files(folder):
        if path in kept:
            continue
        metadata = _metadata(path)
        cases = {(p, r) for p, r, _, _ in (metadata or {}).get("cases", [])}
        if metadata is not None and cases <= covered:
            os.unlink(path)
            removed.append(path)
    return removed


def _repeated(
    labels: list[str], lengths: np.ndarray, categories: list[str] | None = None
) -> pd.Categorical:
    """``pd.Categorical(np.repeat(labels, lengths), categories)``, built from the codes:
    no string object per row (a 10,000-patient table has 93 million rows)."""
    piece = pd.Categorical(labels, categories=categories)
    return pd.Categorical.from_codes(np.repeat(piece.codes, lengths), dtype=piece.dtype)


def assemble(
    results: list[Piece], columns: Sequence[str], categories: dict[str, list] | None = None
) -> pd.DataFrame:
    """The tidy cohort table (``columns``) from ``(patient_id, roi, keys, values)`` pieces,
    sorted by patient and ROI (the paper's order) whatever the order of the pieces.

    ``categories`` (column -> categories, :func:`vocabulary`) replaces the categories the
    pieces alone give: those of the whole table when ``results`` is one chunk of it.
    """
    if not results:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    results = sorted(results, key=lambda r: _case_order(r[:2]))
    lengths = np.array([len(r[3]) for r in results])
    # Most pieces share one key list: map each distinct list to integer key ids once.
    key_id: dict[str, int] = {}
    ids_by_signature: dict[bytes, np.ndarray] = {}
    id_pieces = []
    for _, _, keys, _ in results:
        signature = keys.tobytes() + str(keys.dtype).encode()
        ids = ids_by_signature.get(signature)
        if ids is None:
            ids = np.array([key_id.setdefault(str(k), len(key_id)) for k in keys], dtype=np.int64)
            ids_by_signature[signature] = ids
        id_pieces.append(ids)
    unique_keys = list(key_id)
    key_index = np.concatenate(id_pieces)
    parts = [k.split("|", 4) for k in unique_keys]
    n_bins = np.array([int(p[0]) for p in parts])[key_index]
    patient = _repeated([r[0] for r in results], lengths)
    roi_order = [r for r in ROI_NAMES if r in {x[1] for x in results}]
    roi_order += sorted({x[1] for x in results} - set(roi_order))
    roi = _repeated([r[1] for r in results], lengths, roi_order)

    def categorical(position: int, order: list[str] | None = None) -> pd.Categorical:
        labels = np.array([p[position] for p in parts], dtype=object)
        codes_unique, inverse = np.unique(labels, return_inverse=True)
        categories = order if order is not None else list(codes_unique)
        mapping = np.array([categories.index(c) for c in codes_unique])
        return pd.Categorical.from_codes(mapping[inverse][key_index], categories=categories)

    family_order = [f for f in FAMILIES if f in {p[1] for p in parts}]
    table = pd.DataFrame(
        {
            "patient_id": patient,
            "roi": roi,
            "n_bins": n_bins.astype(np.int64),
            "family": categorical(1, family_order),
            "name": categorical(2),
            "ibsi_code": categorical(3),
            "aggregation": categorical(4),
            "value": np.concatenate([r[3] for r in results]),
        }
    )
    for column, values in (categories or {}).items():
        table[column] = table[column].cat.set_categories(values)
    return table


def read_spacings(selection: dict[Path, set[tuple[str, str]]]) -> dict[str, tuple[float, ...]]:
    """Patient id -> voxel size (mm) of the selected cases' patients, from the footers."""
    spacings: dict[str, tuple[float, ...]] = {}
    for path, wanted in selection.items():
        stored = (_metadata(path) or {}).get("spacing", {})
        spacings.update({p: tuple(stored[p]) for p, _ in wanted if p in stored})
    return spacings


def _case_order(case: tuple[str, str]) -> tuple:
    """Sort key of a (patient_id, roi) case: the order of :func:`assemble`."""
    patient_id, roi = case
    return patient_id, ROI_NAMES.index(roi) if roi in ROI_NAMES else 99, roi


def vocabulary(selection: dict[Path, set[tuple[str, str]]]) -> dict[str, list]:
    """The categories :func:`assemble` gives the whole table of the selected cases, for
    the columns whose categories do not grow with the cohort (``roi``, ``family``,
    ``name``, ``ibsi_code``, ``aggregation``), read one partition's ``key`` column at a
    time."""
    import pyarrow.parquet as pq

    keys: set[str] = set()
    for path, wanted in sorted(selection.items()):
        table = pq.read_table(path, columns=["key"])
        key = table.column("key").combine_chunks()
        indices = key.indices.to_numpy(zero_copy_only=False)
        rows = np.zeros(len(indices), dtype=bool)
        start = 0
        for patient_id, roi, _, n in json.loads(table.schema.metadata[METADATA_KEY])["cases"]:
            rows[start : start + n] = (patient_id, roi) in wanted
            start += n
        keys.update(key.dictionary.take(np.unique(indices[rows])).to_pylist())
    rois = {r for wanted in selection.values() for _, r in wanted}
    parts = [k.split("|", 4) for k in keys]
    return {
        "roi": [r for r in ROI_NAMES if r in rois] + sorted(rois - set(ROI_NAMES)),
        "family": [f for f in FAMILIES if f in {p[1] for p in parts}],
        **{
            c: sorted({p[i] for p in parts})
            for c, i in (("name", 2), ("ibsi_code", 3), ("aggregation", 4))
        },
    }


#: Patients assembled at once when a table is streamed to parquet (:func:`write_table`).
PATIENTS_PER_CHUNK = PATIENTS_PER_PARTITION


def write_table(
    selection: dict[Path, set[tuple[str, str]]], out: str | Path, columns: Sequence[str]
) -> None:
    """Write the selected cases as the cohort table (what :func:`assemble` gives, read back
    equal) to parquet file ``out`` (atomically), one row group of :data:`PATIENTS_PER_CHUNK`
    patients at a time: the memory used does not grow with the cohort.

    The feature columns get the whole table's categories (:func:`vocabulary`); a row
    group's ``patient_id`` dictionary holds its own patients only (a reader joins them in
    row-group order, i.e. sorted, as :func:`assemble` sorts them), so neither the file nor
    the time to write it grows faster than the cohort."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = {case: path for path, wanted in selection.items() for case in wanted}
    if not where:
        with atomic_path(out) as tmp:
            assemble([], columns).to_parquet(tmp, index=False)
        return
    categories = vocabulary(selection)
    frames = (
        assemble(read_pieces(_by_partition(chunk, where))[0], columns, categories)
        for chunk in _patient_chunks(sorted(where, key=_case_order), PATIENTS_PER_CHUNK)
    )
    first = pa.Table.from_pandas(next(frames), preserve_index=False)
    with (
        atomic_path(out) as tmp,
        pq.ParquetWriter(tmp, first.schema, compression="snappy") as writer,
    ):
        writer.write_table(first)
        for frame in frames:
            writer.write_table(
                pa.Table.from_pandas(frame, schema=first.schema, preserve_index=False)
            )


def _patient_chunks(cases: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """Consecutive runs of ``cases`` (sorted by patient) with at most ``size`` patients."""
    chunk: list[tuple[str, str]] = []
    patients: set[str] = set()
    for case in cases:
        if case[0] not in patients and len(patients) == size:
            yield chunk
            chunk, patients = [], set()
        chunk.append(case)
        patients.add(case[0])
    if chunk:
        yield chunk


def _by_partition(
    cases: list[tuple[str, str]], where: dict[tuple[str, str], Path]
) -> dict[Path, set[tuple[str, str]]]:
    """``cases`` grouped by the partition that holds them (``where``)."""
    selection: dict[Path, set[tuple[str, str]]] = {}
    for case in cases:
        selection.setdefault(where[case], set()).add(case)
    return selection
