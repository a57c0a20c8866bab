"""The JupyterLab setup shipped with the project (`.jupyter/`) and the lab check's helpers.

The browser check itself is `make lab-check` (run by CI after `make test`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from traitlets.config import Config

from mpirad.jupyter import labcheck, labserver

REPO = Path(__file__).resolve().parents[1]
JUPYTER = REPO / ".jupyter"


def load_server_config() -> tuple[Config, dict]:
    config = Config()
    namespace = {"get_config": lambda: config}
    path = JUPYTER / "jupyter_server_config.py"
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return config, namespace


def test_book_py_files_open_as_jupytext_notebooks():
    overrides = json.loads((JUPYTER / "labconfig/default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"


def test_pre_save_hook_drops_empty_tags_only():
    config, _ = load_server_config()
    hook = config.ContentsManager.pre_save_hook
    text = (
        "# %% [markdown] tags=[]\n# # Title\n\n"
        '# %% tags=["parameters"]\nx = 1\n\n'
        "# %% tags=[]\ny = [] if x else x  # tags=[]\n"
    )
    model = {"type": "file", "format": "text", "content": text}
    hook(model=model, path="book/a.py", contents_manager=None)
    assert model["content"] == (
        "# %% [markdown]\n# # Title\n\n"
        '# %% tags=["parameters"]\nx = 1\n\n'
        "# %%\ny = [] if x else x  # tags=[]\n"
    )
    other = {"type": "file", "format": "text", "content": "# %% tags=[]\n"}
    hook(model=other, path="notes.txt", contents_manager=None)
    assert other["content"] == "# %% tags=[]\n"


def test_book_notebooks_skip_hidden_folders(tmp_path):
    (tmp_path / "book/study_a/.ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "book/study_a/results.py").write_text("")
    (tmp_path / "book/study_a/.ipynb_checkpoints/results-checkpoint.py").write_text("")
    (tmp_path / "book/datasets.py").write_text("")
    assert labcheck.book_notebooks(tmp_path) == ["book/datasets.py", "book/study_a/results.py"]


def test_book_notebooks_of_the_project_include_the_run_notebook():
    notebooks = labcheck.book_notebooks(REPO)
    assert labcheck.RUN_NOTEBOOK in notebooks and len(notebooks) >= 8


def test_lab_command_allows_root_only_as_root(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in labserver.lab_command(REPO, 8888, "t", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    cmd = labserver.lab_command(REPO, 8888, "t", tmp_path)
    assert "--allow-root" not in cmd
    assert f"--LabApp.workspaces_dir={tmp_path}" in cmd and "--ServerApp.port=8888" in cmd


def test_lab_env_puts_the_project_config_first(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    env = labserver.lab_env(REPO, tmp_path / "settings")
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(JUPYTER), "/elsewhere"]
    assert env["JUPYTERLAB_SETTINGS_DIR"] == str(tmp_path / "settings")


def test_free_port_is_bindable():
    import socket

    port = labserver.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _lab_round_trip(root: Path, rel: str) -> None:
    """Open ``rel`` as JupyterLab's "Jupytext Notebook" viewer does (through jupytext's
    contents manager), add what the lab adds (kernel metadata, cell flags) and save."""
    import asyncio

    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(root))
    model = asyncio.run(manager.get(rel, type="notebook"))
    notebook = model["content"]
    notebook["metadata"]["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"
    }  # fmt: skip
    notebook["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    for cell in notebook["cells"]:
        cell["metadata"].update({"trusted": True, "editable": True, "tags": []})
    asyncio.run(manager.save({"type": "notebook", "content": notebook}, rel))


def test_a_module_saved_as_a_notebook_comes_back_unchanged(tmp_path):
    """Modules under mpirad/, tests/ and benchmarks/ open as notebooks in JupyterLab (every
    .py does); saved from there they come back byte-identical: no jupytext header, no cell
    metadata (their folders' jupytext.toml)."""
    import shutil

    modules = []
    for folder in ("mpirad", "tests", "benchmarks"):
        shutil.copytree(REPO / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))  # fmt: skip
        modules += sorted(p.relative_to(tmp_path).as_posix()
                          for p in (tmp_path / folder).rglob("*.py"))  # fmt: skip
    shutil.copy(REPO / "jupytext.toml", tmp_path / "jupytext.toml")
    before = {rel: (tmp_path / rel).read_bytes() for rel in modules}
    for rel in modules:
        _lab_round_trip(tmp_path, rel)
    changed = [rel for rel in modules if (tmp_path / rel).read_bytes() != before[rel]]
    assert not changed, f"saving as a notebook changed {changed[:5]}"
    assert len(modules) > 100


def test_the_book_folder_keeps_its_notebook_header():
    """The book's chapters are notebooks: their folder's config (the project's) keeps the
    kernelspec header; the modules' configs are not the book's."""
    import tomllib

    book = tomllib.loads((REPO / "jupytext.toml").read_text(encoding="utf-8"))
    assert book["notebook_metadata_filter"] == "kernelspec,-all"
    for folder in ("mpirad", "tests", "benchmarks"):
        config = tomllib.loads((REPO / folder / "jupytext.toml").read_text(encoding="utf-8"))
        assert config == {"notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}


def test_text_notebooks_are_served_with_what_the_lab_would_add():
    """JupyterLab marks a notebook modified when the kernel's language_info or the property
    inspector's cell defaults arrive; the project's contents manager serves them already
    (the browser check, `make lab-check`, opens and closes a chapter and a module)."""
    from ipykernel.ipkernel import IPythonKernel

    from mpirad.jupyter.labcontents import CELL_DEFAULTS, KERNELSPEC, add_lab_metadata

    config, _ = load_server_config()
    assert config.ServerApp.contents_manager_class.endswith("labcontents.LabContentsManager")
    module = {"metadata": {}, "cells": [{"cell_type": "code", "metadata": {}}]}
    add_lab_metadata(module)
    assert module["metadata"]["kernelspec"] == KERNELSPEC
    assert module["metadata"]["language_info"] == dict(IPythonKernel.language_info)
    assert module["cells"][0]["metadata"] == CELL_DEFAULTS
    chapter = {
        "metadata": {"kernelspec": {**KERNELSPEC, "display_name": "mine"}},
        "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}}],
    }
    add_lab_metadata(chapter)
    assert chapter["metadata"]["kernelspec"]["display_name"] == "mine"  # its own is kept
    assert chapter["cells"][0]["metadata"]["tags"] == ["parameters"]
    assert chapter["cells"][0]["metadata"]["editable"] is True
