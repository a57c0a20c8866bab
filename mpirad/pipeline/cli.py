"""``mpirad book-inputs``: everything the book's chapters read, under ``build/``."""

from __future__ import annotations

from typing import Annotated

import typer

from mpirad.cli_options import SchedulerOption, use_scheduler


def register(app: typer.Typer) -> None:
    @app.command("book-inputs")
    def book_inputs(
        profile: Annotated[str, typer.Option(help="quick or paper")] = "quick",
        dataset_a: Annotated[
            str, typer.Option(help="Study A dataset ('none' leaves Study A out)")
        ] = "synthetic-a",
        dataset_b: Annotated[
            str, typer.Option(help="Study B dataset ('none' leaves Study B out)")
        ] = "synthetic-b",
        n_jobs: Annotated[
            int | None,
            typer.Option(help="parallel workers (-1 = all cores; default: MPIRAD_N_JOBS or 2)"),
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="recompute every step")] = False,
        scheduler: SchedulerOption = None,
        profile_overrides: Annotated[
            str,
            typer.Option(help="JSON changes to the Study A profile, e.g. '{\"n_splits\": 2}'"),
        ] = "",
        allow_failures: Annotated[
            bool,
            typer.Option(
                "--allow-failures",
                help="Study B: leave out (and count) the patients whose extraction fails",
            ),
        ] = False,
    ) -> None:
        """Make the book's inputs for two datasets: split runs, features, selection, TOC.

        Each step reruns when (and only when) its record differs: other data, profile,
        settings or mpirad version; otherwise it is reused and says so. An interrupted run
        resumes. Writes build/book/ (table of contents, dataset page) for `make book`.
        """
        import json

        from mpirad.pipeline.steps import build_book_inputs

        use_scheduler(scheduler)
        try:
            overrides = json.loads(profile_overrides) if profile_overrides else None
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--profile-overrides: not JSON ({exc})") from None
        build_book_inputs(
            profile=profile, dataset_a=dataset_a, dataset_b=dataset_b, n_jobs=n_jobs,
            force=force, profile_overrides=overrides, allow_failures=allow_failures,
        )  # fmt: skip

    @app.command("book-verify")
    def book_verify(
        toc: Annotated[
            str, typer.Option(help="the table of contents built (default build/book/_toc.yml)")
        ] = "",
    ) -> None:
        """Check the built book against its current inputs: exit 1 naming every page that
        failed, was not built or was built from other inputs (the last step of `make book`).

        Each executed page's inputs (its source, the datasets' fingerprints and input
        records it reads, the profile, the mpirad version) are compared with what it was
        executed with (build/book/pages.json, written by the Jupyter Book build); each
        Study A split run rendered with the record `mpirad book-inputs` made current.
        """
        from pathlib import Path

        from mpirad.pipeline.pages import verify_pages

        current, problems = verify_pages(toc=Path(toc) if toc else None)
        for problem in problems:
            typer.echo(f"[mpirad] book: page {problem}", err=True)
        if problems:
            typer.echo(
                f"[mpirad] book: {len(problems)} page(s) not current, {len(current)} current; "
                "nothing stale is published as built: run `make book` again after fixing "
                "the failure (it executes exactly the pages that are not current)",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"[mpirad] book: all {len(current)} executed pages are current")
