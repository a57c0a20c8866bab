from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("TQDM_DISABLE", "1")


def notebook_project(tmp_path_factory, manifest: str, name: str = "project"):
    """A throwaway project for running book notebooks: its own data_manifest.yaml.

    Yields the project folder with ``$MPIRAD_MANIFEST`` pointing at it (so relative paths
    such as ``build/`` resolve there), progress bars off and one OpenMP thread per kernel.
    Use as ``yield from notebook_project(...)`` inside a module-scoped fixture.
    """
    import pytest

    root = tmp_path_factory.mktemp(name)
    (root / "data_manifest.yaml").write_text(manifest)
    patch = pytest.MonkeyPatch()
    patch.setenv("MPIRAD_MANIFEST", str(root / "data_manifest.yaml"))
    patch.setenv("TQDM_DISABLE", "1")
    patch.setenv("OMP_NUM_THREADS", "1")
    try:
        yield root
    finally:
        patch.undo()


def notebook_outputs(path) -> list[dict]:
    """All outputs of an executed notebook, asserting none is an error, warning or traceback."""
    import nbformat

    notebook = nbformat.read(path, 4)
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    for output in outputs:
        assert output.get("output_type") != "error", f"{path.name}: error output"
        if output.get("name") == "stderr":
            text = output.get("text", "")
            assert "Warning" not in text and "Traceback" not in text, f"{path.name}: {text[:300]}"
    return outputs
