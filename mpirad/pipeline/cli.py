"""``mpirad book-inputs``: everything the book's summary chapters read, under ``build/``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("book-inputs")
    def book_inputs(
        profile: Annotated[str, typer.Option(help="quick or paper")] = "quick",
        dataset_a: Annotated[str, typer.Option(help="Study A dataset")] = "synthetic-a",
        dataset_b: Annotated[str, typer.Option(help="Study B dataset")] = "synthetic-b",
        n_jobs: Annotated[int, typer.Option(help="parallel workers")] = 2,
    ) -> None:
        """Generate/verify the datasets and run the per-split notebooks and extraction.

        Steps whose outputs exist are skipped, so an interrupted run resumes.
        """
        from mpirad.pipeline.steps import build_book_inputs

        build_book_inputs(profile=profile, dataset_a=dataset_a, dataset_b=dataset_b, n_jobs=n_jobs)
