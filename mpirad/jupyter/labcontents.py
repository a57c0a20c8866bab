"""JupyterLab's contents manager for this project (``.jupyter/jupyter_server_config.py``).

Jupytext's contents manager (which opens the book's ``.py`` chapters as notebooks) with
one addition: a text notebook is served with the metadata JupyterLab would otherwise
write into it on its own (:func:`add_lab_metadata`):

- the kernel's: a ``.py`` file holds at most the ``kernelspec`` (the book's
  ``jupytext.toml``) and a module under ``mpirad/`` none; when the kernel starts,
  JupyterLab writes the kernel's ``language_info`` (and, for a file without one, a
  ``kernelspec``) into the notebook;
- the property inspector's: while it is shown, it writes its defaults (``editable``,
  ``deletable``, ``slideshow``, empty ``tags``) into the active cell
  (jupyterlab/jupyterlab#17562).

Either marked the notebook modified without an edit: every chapter asked "Save your
work?" on close, and autosave rewrote the file two minutes later (a module gained a
jupytext header). Served with that metadata already, a notebook opens unmodified, and a
save still writes only what the folder's ``jupytext.toml`` keeps (the book: the
kernelspec and cell tags; ``mpirad/``, ``tests/``, ``benchmarks/``: nothing).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

#: The kernel of every text notebook of the project (``jupyter kernelspec list``).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info() -> dict[str, Any]:
    """What ipykernel reports as ``language_info`` (its kernel runs this Python)."""
    import copy

    from ipykernel.ipkernel import IPythonKernel

    return copy.deepcopy(dict(IPythonKernel.language_info))


#: What the property inspector writes into a cell it shows, when the cell has none.
CELL_DEFAULTS = {"deletable": True, "editable": True, "slideshow": {"slide_type": ""}, "tags": []}


def add_lab_metadata(notebook: dict) -> None:
    """Give a Python text notebook, in place, the ``kernelspec`` (when it names none) and
    the ``language_info`` its kernel reports, and each cell the property inspector's
    defaults (:data:`CELL_DEFAULTS`) where it has no value of its own."""
    import copy

    metadata = notebook.setdefault("metadata", {})
    kernelspec = metadata.setdefault("kernelspec", dict(KERNELSPEC))
    if kernelspec.get("language", "python") == "python":
        metadata.setdefault("language_info", language_info())
    for cell in notebook.get("cells", []):
        cell_metadata = cell.setdefault("metadata", {})
        for key, value in CELL_DEFAULTS.items():
            cell_metadata.setdefault(key, copy.deepcopy(value))


class LabContentsManager(build_async_jupytext_contents_manager_class(AsyncLargeFileManager)):
    """Jupytext's contents manager; text notebooks come with the lab's metadata."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):  # noqa: A002
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if (
            content
            and model.get("type") == "notebook"
            and str(path).endswith(".py")
            and isinstance(model.get("content"), dict)
        ):
            add_lab_metadata(model["content"])
        return model
