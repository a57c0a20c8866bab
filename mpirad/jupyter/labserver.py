"""The JupyterLab server of ``make lab`` and ``make lab-check``, started for a check.

:class:`LabServer` starts JupyterLab as ``make lab`` does (the project's ``.jupyter/``
settings on ``JUPYTER_CONFIG_PATH``, a throwaway workspace, ``--allow-root`` only as root)
on a free localhost port with a token, talks to its REST API, and always stops it and its
kernels. Used by :mod:`mpirad.jupyter.labcheck`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class LabCheckError(RuntimeError):
    """A check failed; the message names the notebook and what was wrong."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_command(root: Path, port: int, token: str, workspaces: Path) -> list[str]:
    """The JupyterLab command line of ``make lab``, headless, on ``port`` with ``token``."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={workspaces}",
        # lets the check read the notebook model (cell tags, kernel) from the page
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab_env(
    root: Path, settings_dir: Path, *, autosave_seconds: int | None = None
) -> dict[str, str]:
    """Environment: the project's Jupyter config first, no user settings of this account.

    ``autosave_seconds``: JupyterLab's autosave interval (its default is 120 s), so that a
    check can wait past an autosave.
    """
    env = dict(os.environ)
    config = str(root / ".jupyter")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        p for p in (config, os.environ.get("JUPYTER_CONFIG_PATH", "")) if p
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings_dir)
    # the kernel imports this checkout's mpirad, whatever the environment has installed
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
    )
    # no news/update pop-up over the screenshots
    notification = settings_dir / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    if autosave_seconds is not None:
        docmanager = settings_dir / "@jupyterlab" / "docmanager-extension"
        docmanager.mkdir(parents=True, exist_ok=True)
        (docmanager / "plugin.jupyterlab-settings").write_text(
            json.dumps({"autosave": True, "autosaveInterval": autosave_seconds}), encoding="utf-8"
        )
    return env


class LabServer:
    """A JupyterLab server process for the check; ``stop()`` ends it and its kernels."""

    def __init__(
        self,
        root: Path,
        log: Path,
        *,
        start_timeout: float = 120.0,
        autosave_seconds: int | None = None,
    ) -> None:
        self.root = root
        self.autosave_seconds = autosave_seconds
        self.log = log
        self.start_timeout = start_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.tmp = Path(tempfile.mkdtemp(prefix="mpirad-labcheck-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = lab_command(self.root, self.port, self.token, self.tmp / "workspaces")
        env = lab_env(self.root, self.tmp / "settings", autosave_seconds=self.autosave_seconds)
        with open(self.log, "w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: kernels are stopped with it
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabCheckError(
                    f"JupyterLab exited with code {self.proc.returncode} while starting:\n"
                    + self.log_tail()
                )
            if self.api("GET", "/api/status") is not None:
                return
            time.sleep(0.5)
        raise LabCheckError(
            f"JupyterLab did not answer on {self.url} within {self.start_timeout:.0f} s:\n"
            + self.log_tail()
        )

    def api(self, method: str, path: str) -> Any:
        """JSON from the server's REST API, or None if it does not answer."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return None
        return json.loads(body) if body else {}

    def stop_kernels(self) -> None:
        """Shut down every session (and so its kernel) the page left open."""
        for session in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        # the token is in the URLs the server prints
        return "\n".join(text.replace(self.token, "<token>").splitlines()[-lines:])

    def stop(self) -> None:
        """Shut the server down (kernels included); kill its process group if it lingers."""
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                self.api("POST", "/api/shutdown")
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            if proc is not None:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                    except (ProcessLookupError, PermissionError):
                        break
                    try:
                        proc.wait(timeout=10)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
