"""What produced an output: dataset fingerprints and step records.

Every step of ``mpirad book-inputs``, ``mpirad run``, ``mpirad extract`` and ``mpirad
outcome`` writes a small JSON *record* beside its output: the step, the dataset's name
and fingerprint, the profile, the settings and the mpirad version. Before running, a step
compares the record it would write with the one on disk (:func:`plan`):

- no output or no record: compute;
- same record: reuse, and say so ("read back from the run of <date>, same settings");
- another record (other data, profile, settings or version): compute again, and say why.

A file or folder *given* to a chapter (a feature table, a selection, a run) is checked
with :func:`require_dataset`: one recorded for another dataset, or for an earlier state of
the same dataset, is refused with a message naming the dataset it belongs to.

The dataset fingerprint (:func:`dataset_fingerprint`) is the manifest's ``checksum`` when
one is recorded (``ensure()`` has verified it), else a cheap stamp of every file's
relative path, size and modification time (:func:`file_stamp`): changing, adding or
removing one data file changes it.

Records are written atomically as ``<file>.record.json`` beside a file output, or
``record.json`` inside a folder output.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: Name of the record inside a folder output.
FOLDER_RECORD = "record.json"
#: Suffix of the record beside a file output.
FILE_RECORD_SUFFIX = ".record.json"


class ForeignOutputError(ValueError):
    """An output recorded for another dataset (or another state of it) than the one asked for."""


def file_stamp(root: str | Path, *, exclude: tuple[str, ...] = (".cache", "truth")) -> str:
    """``stamp:<sha256>`` over every file's relative path, size and mtime (ns) under ``root``.

    Hidden files and folders and the ``exclude`` names are skipped (``truth`` holds a
    synthetic cohort's answers, which no step reads). Costs one ``stat`` per file.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in exclude)
        for name in sorted(filenames):
            if name.startswith(".") or name in exclude:
                continue
            path = Path(dirpath) / name
            info = path.stat()
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(f"\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return "stamp:" + digest.hexdigest()


#: Manifest keys that change what is read from a dataset's files.
READING_OPTIONS = (
    "files", "spacing", "origin", "direction", "mat_axes", "labels", "rois", "short_axis",
    "rv_insertion_deg", "resample", "resegment", "exclude",
)  # fmt: skip


def dataset_fingerprint(ds: Dataset) -> str:
    """The manifest checksum of ``ds`` when recorded, else :func:`file_stamp` of its root.

    Reading options set in the manifest (file mapping, spacing and placement, MATLAB axes,
    Labelme labels, ROIs derived from the myocardium and their orientation, resampling and
    re-segmentation, patients excluded;
    :data:`READING_OPTIONS`) are part of it: changing one changes what is read.
    """
    files = ds.entry.checksum or file_stamp(ds.root)
    options = ds.entry.model_dump(include=set(READING_OPTIONS), exclude_defaults=True)
    return f"{files}+{digest(options)}" if options else files


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value (settings, another record)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version() -> str:
    from mpirad import __version__

    return __version__


@dataclass(frozen=True)
class StepRecord:
    """What produced one output.

    Attributes:
        step: the step's name, e.g. ``"study_b.extract"``.
        dataset: the dataset's manifest name.
        fingerprint: :func:`dataset_fingerprint` of the dataset when the step ran.
        profile: run profile name (``quick``/``paper``), or ``None`` where none applies.
        settings: every other choice that changes the output (JSON-able).
        mpirad: the mpirad version that ran the step.
        created: when the step finished (ISO 8601, UTC); not compared.
    """

    step: str
    dataset: str
    fingerprint: str
    profile: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    mpirad: str = field(default_factory=_version)
    created: str = ""

    def key(self) -> dict[str, Any]:
        """Everything that decides the output (all fields but ``created``), JSON-normalised."""
        data = asdict(self)
        data.pop("created")
        return json.loads(json.dumps(data, sort_keys=True, default=str))

    def digest(self) -> str:
        """A short hash of :meth:`key`, for records that depend on this one."""
        return digest(self.key())

    def when(self) -> str:
        """``created`` as ``YYYY-MM-DD HH:MM`` UTC (or ``an unknown date``)."""
        try:
            return datetime.fromisoformat(self.created).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return "an unknown date"


def record_path(output: str | Path) -> Path:
    """Where the record of ``output`` lives (inside a folder, beside a file)."""
    output = Path(output)
    if output.is_dir() or not output.suffix:
        return output / FOLDER_RECORD
    return output.with_name(output.name + FILE_RECORD_SUFFIX)


def write_record(output: str | Path, record: StepRecord) -> Path:
    """Write ``record`` for ``output`` (atomically), stamped with the current time."""
    from mpirad.io.atomic import atomic_write

    data = asdict(record)
    data["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    path = record_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
        handle.write("\n")
    return path


def read_record(output: str | Path) -> StepRecord | None:
    """The record of ``output``, or ``None`` when there is none (or it is unreadable)."""
    path = record_path(output)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StepRecord(**data)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


@dataclass(frozen=True)
class Plan:
    """What a step will do with its output: ``compute`` or ``reuse``, and why."""

    action: Literal["compute", "reuse"]
    reason: str
    previous: StepRecord | None = None

    @property
    def reuse(self) -> bool:
        return self.action == "reuse"


def _differences(old: StepRecord, new: StepRecord) -> str:
    old_key, new_key = old.key(), new.key()
    changed = [name for name in new_key if old_key.get(name) != new_key.get(name)]
    words = {
        "fingerprint": "the data changed",
        "dataset": f"it was made from dataset {old.dataset!r}",
        "profile": f"profile {old.profile!r} -> {new.profile!r}",
        "settings": "other settings",
        "mpirad": f"mpirad {old.mpirad} -> {new.mpirad}",
        "step": f"it was made by step {old.step!r}",
    }
    if "settings" in changed:
        keys = sorted(
            k
            for k in set(old_key["settings"]) | set(new_key["settings"])
            if old_key["settings"].get(k) != new_key["settings"].get(k)
        )
        words["settings"] = "other settings (" + ", ".join(keys) + ")"
    return "; ".join(words[name] for name in changed)


def plan(output: str | Path, wanted: StepRecord, *, force: bool = False) -> Plan:
    """Decide whether ``output`` can be reused for ``wanted`` (module docstring).

    Args:
        output: the step's output file or folder.
        wanted: the record the step would write now.
        force: compute even when the record matches.
    """
    output = Path(output)
    previous = read_record(output) if output.exists() else None
    if force:
        return Plan("compute", "--force", previous)
    if not output.exists():
        return Plan("compute", "no earlier result", None)
    if previous is None:
        return Plan("compute", "an earlier result without a record (what made it is unknown)")
    if previous.key() == wanted.key():
        return Plan(
            "reuse", f"read back from the run of {previous.when()}, same settings", previous
        )
    return Plan(
        "compute", f"the result of {previous.when()} is out of date: {_differences(previous, wanted)}",
        previous,
    )  # fmt: skip


def require_dataset(output: str | Path, ds: Dataset, *, what: str = "result") -> StepRecord | None:
    """Refuse an output recorded for another dataset than ``ds``, or an older state of it.

    Args:
        output: a feature table, selection folder, run folder, ...
        ds: the dataset it is meant to belong to.
        what: how to call the output in the message.

    Returns:
        Its record (``None`` for an output without one, e.g. a table made outside mpirad:
        what made it cannot be checked, so it is accepted).

    Raises:
        ForeignOutputError: recorded for another dataset, or for the same dataset's files
            before they changed.
    """
    record = read_record(output)
    if record is None:
        return None
    if record.dataset != ds.name:
        raise ForeignOutputError(
            f"{what} {output} belongs to dataset {record.dataset!r} (made {record.when()}), "
            f"not to {ds.name!r}; leave the path parameter empty to use {ds.name!r}'s own"
        )
    current = dataset_fingerprint(ds)
    if record.fingerprint != current:
        raise ForeignOutputError(
            f"{what} {output} was made {record.when()} from dataset {ds.name!r} as it was then; "
            f"its files have changed since (fingerprint {record.fingerprint[:19]}... now "
            f"{current[:19]}...): recompute it (`mpirad book-inputs`, or the chapter with the "
            "path parameter left empty)"
        )
    return record


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a book page, a notebook under papermill)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def say(step: str, decision: Plan) -> None:
    """One line on stderr saying what a step does with its output and why (the CLI's and
    ``make``'s log); nothing in a notebook, whose outputs are the book's pages."""
    verb = "reused" if decision.reuse else "computing"
    log(f"{step}: {verb} ({decision.reason})")


def log(message: str) -> None:
    """``[mpirad] message`` on stderr (the CLI's and ``make``'s log); nothing in a
    notebook, whose outputs are the book's pages."""
    if not in_notebook():
        print(f"[mpirad] {message}", file=sys.stderr, flush=True)


__all__ = [
    "FILE_RECORD_SUFFIX",
    "FOLDER_RECORD",
    "ForeignOutputError",
    "Plan",
    "StepRecord",
    "dataset_fingerprint",
    "digest",
    "in_notebook",
    "log",
    "file_stamp",
    "plan",
    "read_record",
    "record_path",
    "require_dataset",
    "say",
    "write_record",
]
