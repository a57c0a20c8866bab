"""The book's kernels start with CurveZMQ transport keys (no "running over TCP without
encryption" warning).

ipykernel logs "Kernel is running over TCP without encryption" unless the kernel
manager that starts it provisions CurveZMQ keys (jupyter_client's
``KernelManager.transport_encryption``, default ``"disabled"``). ``make lab`` sets it in
``.jupyter/jupyter_server_config.py`` and papermill runs get it from
:func:`mpirad.jupyter.runner.kernel_manager_options`; Jupyter Book's executions
(myst-nb -> jupyter-cache -> ``nbclient.execute``) read no Jupyter configuration file
and pass no kernel-manager option through, so this Sphinx extension (set up by
:mod:`mpirad.pipeline.pages`) makes ``nbclient``'s notebook client start its kernels
with a manager whose policy is ``"auto"`` (keys when the kernelspec supports them, as
ipykernel's does). Nothing when pyzmq lacks CurveZMQ.
"""

from __future__ import annotations

from typing import Any


def encrypted_notebook_client() -> type | None:
    """nbclient's ``NotebookClient`` whose kernels get CurveZMQ keys (None without CurveZMQ)."""
    import zmq

    if not zmq.has("curve"):
        return None
    from jupyter_client import AsyncKernelManager
    from nbclient.client import NotebookClient
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        """A kernel manager that provisions CurveZMQ keys when the kernelspec supports them."""

        @default("transport_encryption")
        def _transport_encryption_default(self) -> str:
            return "auto"

    class EncryptedNotebookClient(NotebookClient):
        """``NotebookClient`` starting its kernels with :class:`EncryptedKernelManager`."""

        @default("kernel_manager_class")
        def _kernel_manager_class_default(self) -> type:
            return EncryptedKernelManager

    return EncryptedNotebookClient


def setup(app) -> dict[str, Any]:
    """Sphinx extension: ``nbclient.execute`` (what jupyter-cache calls) uses
    :func:`encrypted_notebook_client`."""
    import nbclient.client

    client = encrypted_notebook_client()
    if client is not None and nbclient.client.NotebookClient.__name__ != client.__name__:
        nbclient.client.NotebookClient = client  # execute() looks it up when called
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
