"""``mpirad export-dicom`` and ``mpirad guard``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mpirad.privacy.guard import ScanReport


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``export-dicom`` and ``guard`` verbs to the mpirad command."""
    app.command("export-dicom")(export_dicom_cmd)
    app.command("guard")(guard_cmd)


def export_dicom_cmd(
    src: Annotated[Path, typer.Argument(help="DICOM file or folder (searched recursively)")],
    dst: Annotated[Path, typer.Argument(help="output folder: PNGs and dicom_index.csv")],
    allow_burned_in: Annotated[
        bool,
        typer.Option(
            "--allow-burned-in",
            help="also convert images flagged for burned-in annotation (check them!)",
        ),
    ] = False,
    ephemeral_secret: Annotated[
        bool,
        typer.Option(
            "--ephemeral-secret",
            help="without MPIRAD_SITE_SECRET(_FILE), use a random secret: ids not stable",
        ),
    ] = False,
    keep_going: Annotated[
        bool,
        typer.Option("--keep-going", help="exit 0 even if some files could not be exported"),
    ] = False,
    identifiers_out: Annotated[
        Path | None,
        typer.Option(
            help="write the header identifiers here for `mpirad guard --identifiers` "
            "(a private file: refused inside DST or a build folder)"
        ),
    ] = None,
) -> None:
    """Convert DICOM images to de-identified 8-bit PNGs with a pseudonymous index.

    Pseudonymous ids are keyed with the site secret from MPIRAD_SITE_SECRET or the
    file named by MPIRAD_SITE_SECRET_FILE. Unreadable files are named and skipped;
    the exit code is 1 if any failed (0 with --keep-going). See SECURITY.md.
    """
    from mpirad.privacy.export import export_dicom
    from mpirad.privacy.secret import SiteSecretError, load_site_secret

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        secret = load_site_secret(ephemeral=ephemeral_secret)
    except SiteSecretError as exc:
        raise _fail(str(exc)) from None
    for warning in secret.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if secret.ephemeral:
        typer.echo(
            "warning: using an ephemeral random secret: pseudonymous ids will differ "
            "from every other run (set MPIRAD_SITE_SECRET or MPIRAD_SITE_SECRET_FILE "
            "for stable ids)",
            err=True,
        )
    try:
        report = export_dicom(
            src,
            dst,
            secret=secret,
            allow_burned_in=allow_burned_in,
            identifiers_out=identifiers_out,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(report.summary(), err=True)
    if report.failures and not keep_going:
        raise typer.Exit(1)


def guard_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="files or folders to scan (missing ones: nothing to scan)"),
    ],
    identifiers: Annotated[
        Path | None,
        typer.Option(help="private identifiers file: one 'kind<TAB>value' or value per line"),
    ] = None,
    dataset_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--dataset-root",
            help="source data to read identifiers from (DICOM headers, identifying "
            "columns of CSV tables); repeatable",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="shell pattern of files not to scan, e.g. '*/checkpoints/*'; repeatable",
        ),
    ] = None,
    derived_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--derived-from",
            help="DICOM source images of the SEG/SR objects under PATHS (e.g. the dataset's "
            "root): each may repeat its source's pseudonymised patient/study values and "
            "nothing else, and is checked that way instead of by the scan; repeatable",
        ),
    ] = None,
) -> None:
    """Fail if any file under PATHS holds a patient identifier or a DICOM-header leak.

    Identifiers come from --identifiers and --dataset-root; without them the guard
    still looks for DICOM-header-like patterns. DICOM SEG objects mpirad wrote (`mpirad
    rois --seg`) carry their source's patient/study values by design: with --derived-from
    they are checked against their source images instead (nothing beyond the source). Findings show masked values only.
    Exit code 1 when anything is found or a file cannot be read.
    """
    from mpirad.privacy.guard import check_derived_objects, scan_paths

    known, sources = _known_identifiers(identifiers, dataset_root)
    skipped = list(exclude or ())
    derived = None
    if derived_from:
        derived = check_derived_objects(paths, derived_from)
        skipped += [path.as_posix() for path in derived.objects]
        typer.echo(
            f"guard: {len(derived.objects)} DICOM SEG/SR object(s) checked against their source "
            f"images under {', '.join(map(str, derived_from))}: "
            f"{len(derived.findings)} finding(s)",
            err=True,
        )
    report = scan_paths(paths, known, skipped)
    if derived is not None:
        report.findings += derived.findings
    checked = len(known) - len(report.too_short)
    if not _print_guard_report(report, checked=checked, sources=sources):
        raise typer.Exit(1)


#: What the guard says when it knows no identifier: that it did not check any, and how
#: to give it some.
NO_IDENTIFIERS_HINT = (
    "no identifier known, so none was checked: give the private list that "
    "`mpirad export-dicom --identifiers-out FILE` wrote (--identifiers FILE) or the source "
    "data (--dataset-root DIR: DICOM headers and identifying table columns), e.g. "
    "`mpirad guard build _build/html --identifiers FILE`"
)


def _known_identifiers(
    identifiers: Path | None, dataset_root: list[Path] | None
) -> tuple[set, list[str]]:
    """The identifiers of the private file and of the source data (a summary on stderr),
    and where they came from, as phrases for the verdict."""
    from mpirad.privacy.identifiers import collect_identifiers, read_identifiers_file

    known: set = set()
    sources: list[str] = []
    try:
        if identifiers is not None:
            listed = read_identifiers_file(identifiers)
            known |= listed
            sources.append(f"{len(listed)} from the list {identifiers}")
        if dataset_root:
            collection = collect_identifiers(dataset_root)
            known |= collection.identifiers
            roots = ", ".join(str(r) for r in dataset_root)
            sources.append(
                f"{len(collection.identifiers)} from {collection.dicom_files} DICOM header(s) "
                f"and {collection.tables} table(s) under {roots}"
            )
            typer.echo(
                f"guard: {len(collection.identifiers)} identifier(s) from "
                f"{collection.dicom_files} DICOM header(s) and {collection.tables} table(s)",
                err=True,
            )
            for problem in collection.problems:
                typer.echo(f"warning: {problem}", err=True)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    return known, sources


def _print_guard_report(
    report: ScanReport, checked: int, sources: tuple[str, ...] | list[str] = ()
) -> bool:
    """Print findings (stdout) and the verdict (stderr); True when everything is clean.

    The verdict says what the files were checked against: the identifiers and where they
    came from (``sources``), and the DICOM-header patterns; with no identifier known it
    says so and how to give the guard some (:data:`NO_IDENTIFIERS_HINT`).
    """
    for missing in report.missing:
        typer.echo(f"guard: {missing} does not exist, nothing to scan there", err=True)
    if report.too_short:
        typer.echo(
            f"guard: {len(report.too_short)} identifier(s) too short to scan reliably "
            "(fewer than 4 letters/digits)",
            err=True,
        )
    for finding in report.findings:
        typer.echo(f"FOUND {finding}")
    for problem in report.unreadable:
        typer.echo(f"UNREADABLE {problem}")
    if report.findings or report.unreadable:
        files = len({finding.path for finding in report.findings})
        typer.echo(
            f"guard FAILED: {len(report.findings)} finding(s) in {files} file(s), "
            f"{len(report.unreadable)} unreadable file(s) ({report.files} scanned)",
            err=True,
        )
        return False
    if checked:
        against = f"{checked} identifier(s) ({'; '.join(sources)}) and DICOM-header patterns"
        typer.echo(f"guard: {report.files} file(s) clean, checked against {against}", err=True)
    else:
        typer.echo(
            f"guard: {report.files} file(s) clean of DICOM-header patterns (patient names, "
            f"ids, birth dates as a header holds them); {NO_IDENTIFIERS_HINT}",
            err=True,
        )
    return True
