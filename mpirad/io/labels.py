"""Study A's per-patient label CSV: image file name -> 0 (no ischemia) / 1 (ischemia).

The paper kept "a CSV form for every patient, in which labels of every image were
recorded: 0 no myocardial ischemia, 1 myocardial ischemia". mpirad reads it as a table
with columns ``image`` and ``label``; the header names ``filename``/``file``/``image_name``
are accepted for ``image`` and ``ischemia``/``class`` for ``label``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

IMAGE_COLUMNS = ("image", "filename", "file", "image_name")
LABEL_COLUMNS = ("label", "ischemia", "class")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class LabelTableError(ValueError):
    """A label CSV that does not match the images or is malformed; names the file."""


def _pick(columns: list[str], choices: tuple[str, ...], path: Path, what: str) -> str:
    lowered = {c.strip().lower(): c for c in columns}
    for choice in choices:
        if choice in lowered:
            return lowered[choice]
    raise LabelTableError(
        f"{path}: no {what} column (looked for {', '.join(choices)}; found {columns})"
    )


def read_label_csv(csv_path: str | Path, image_dir: str | Path | None = None) -> pd.DataFrame:
    """Read a per-patient label CSV and check it against the images present.

    Args:
        csv_path: the CSV file.
        image_dir: folder holding the images; by default the CSV's folder. Pass
            ``False``-y only via :func:`read_label_csv_unchecked` to skip the check.

    Returns:
        DataFrame with columns ``image`` (file name, str) and ``label`` (int 0/1), in
        file order.

    Raises:
        LabelTableError: unreadable CSV, missing columns, labels other than 0/1,
            duplicate images, images listed but missing on disk, or images on disk not
            listed (both lists are given in full).
    """
    csv_path = Path(csv_path)
    table = read_label_csv_unchecked(csv_path)
    folder = Path(image_dir) if image_dir is not None else csv_path.parent
    if not folder.is_dir():
        raise LabelTableError(f"{csv_path}: image folder {folder} does not exist")
    present = {
        p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    }
    listed = set(table["image"])
    missing = sorted(listed - present)
    extra = sorted(present - listed)
    problems = []
    if missing:
        problems.append(f"{len(missing)} listed image(s) missing from {folder}: {missing}")
    if extra:
        problems.append(f"{len(extra)} image(s) in {folder} not listed: {extra}")
    if problems:
        raise LabelTableError(f"{csv_path}: labels do not match the images; " + "; ".join(problems))
    return table


def read_label_csv_unchecked(csv_path: str | Path) -> pd.DataFrame:
    """Read and validate a label CSV's contents without looking at the images."""
    csv_path = Path(csv_path)
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise LabelTableError(f"{csv_path}: no such label file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LabelTableError(f"{csv_path}: not a readable CSV ({exc})") from exc
    if not isinstance(raw.index, pd.RangeIndex):  # pandas took surplus fields as the index
        raise LabelTableError(
            f"{csv_path}: rows have more fields than the header {list(raw.columns)}"
        )
    image_col = _pick(list(raw.columns), IMAGE_COLUMNS, csv_path, "image")
    label_col = _pick(list(raw.columns), LABEL_COLUMNS, csv_path, "label")
    images = raw[image_col].str.strip().map(lambda s: Path(s.replace("\\", "/")).name)
    no_name = images.isin(["", ".", ".."])
    if no_name.any():
        rows = [int(i) + 2 for i in images.index[no_name]]
        raise LabelTableError(f"{csv_path}: empty image name on line(s) {rows}")
    labels = raw[label_col].str.strip()
    bad = ~labels.isin(["0", "1", "0.0", "1.0"])
    if bad.any():
        examples = [(int(i) + 2, labels[i]) for i in labels.index[bad][:5]]
        raise LabelTableError(
            f"{csv_path}: labels must be 0 or 1; bad values (line, value): {examples}"
        )
    dupes = sorted(images[images.duplicated()].unique())
    if dupes:
        raise LabelTableError(f"{csv_path}: images listed more than once: {dupes}")
    return pd.DataFrame(
        {
            "image": images.astype(str).to_numpy(),
            "label": labels.astype(float).astype(int).to_numpy(),
        }
    )


def write_label_csv(path: str | Path, table: pd.DataFrame) -> Path:
    """Write an ``image,label`` table as CSV (atomically, LF line endings)."""
    from mpirad.io.atomic import atomic_write

    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        table[["image", "label"]].to_csv(handle, index=False, lineterminator="\n")
    return path
