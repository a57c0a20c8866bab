"""A split run in a joblib worker writes into the caller's ``build/``, whatever project the
worker process was started for (a reused worker keeps the environment it was born with)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import mpirad.jupyter.runner as runner
from mpirad.pipeline import steps


def test_a_split_run_sees_the_callers_manifest_and_restores_the_workers(tmp_path, monkeypatch):
    caller, stale = tmp_path / "caller.yaml", tmp_path / "stale.yaml"
    monkeypatch.setenv("MPIRAD_MANIFEST", str(stale))  # the worker's old project
    seen = []

    def job(ds, split, unit, *, profile, profile_overrides):
        seen.append(("job", os.environ["MPIRAD_MANIFEST"]))
        return SimpleNamespace(
            notebook="nb.py", parameters={}, output=tmp_path / "out.ipynb", label="split"
        )

    def run_recorded(notebook, parameters, **kwargs):
        seen.append(("run", os.environ["MPIRAD_MANIFEST"]))
        return None, True

    monkeypatch.setattr(steps, "study_a_job", job)
    monkeypatch.setattr(runner, "run_recorded", run_recorded)
    label, seconds = steps._run_split(
        None, 1, "image", "quick", None, False, None, manifest=str(caller)
    )
    assert seen == [("job", str(caller)), ("run", str(caller))]
    assert label == "split" and seconds is not None
    assert os.environ["MPIRAD_MANIFEST"] == str(stale)  # the worker's own, restored
    monkeypatch.delenv("MPIRAD_MANIFEST")
    steps._run_split(None, 1, "image", "quick", None, False, None, manifest=str(caller))
    assert "MPIRAD_MANIFEST" not in os.environ and seen[-1] == ("run", str(caller))
