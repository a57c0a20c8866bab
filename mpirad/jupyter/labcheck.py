"""The book in JupyterLab, driven by a real browser (``make lab-check``).

Usage: ``python -m mpirad.jupyter.labcheck [--out build/screenshots/lab] [--run-cells 5]``, from the
project root. It starts JupyterLab as ``make lab`` does (the project's ``.jupyter/``
settings, a throwaway workspace) on a free localhost port with a token, then, in headless
Chromium driven by Selenium:

1. opens every book notebook (``book/**/*.py``) by double-click in the file browser and
   checks that it renders as a notebook (a notebook panel with cells, not the text editor),
   with the ``python3`` kernel and its cell tagged ``parameters``;
2. runs the first cells of ``book/datasets.py`` (Shift+Enter) and checks they give outputs
   and no errors;
3. saves each notebook with Ctrl+S and checks the file was written and is byte-identical,
   and that ``git status --porcelain`` is the same as before;
4. leaves files alone (autosave every :data:`AUTOSAVE_SECONDS` s here, not 120): a chapter
   (:data:`CLOSE_NOTEBOOK`) and a module (:data:`MODULE`) opened by double-click are not
   marked modified, are not written by an autosave, and close without a "Save your work?"
   prompt (a module may open as a notebook, as every ``.py`` does, or in the editor).

A screenshot of each notebook goes to the output folder for a person to look at, and one
of the page when a check fails. The server (and its kernels) is always stopped. Needs
``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``)
and ``selenium`` (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpirad.jupyter.labserver import LabCheckError, LabServer

#: The notebook whose first cells are run.
RUN_NOTEBOOK = "book/datasets.py"
#: A chapter opened and closed without an edit (item 4 of the module docstring).
CLOSE_NOTEBOOK = "book/synthetic_cohort.py"
#: A module opened by double-click and left open past an autosave.
MODULE = "mpirad/heart/polar.py"
#: JupyterLab's autosave interval during the check (its default is 120 s).
AUTOSAVE_SECONDS = 3
#: The kernel every book notebook names (``jupyter kernelspec list`` in the environment).
KERNEL_NAME = "python3"

#: JavaScript: what the main area's current widget is (needs ``expose_app_in_browser``).
_JS_CURRENT = """
const app = window.jupyterapp;
if (!app) { return {error: 'window.jupyterapp missing'}; }
const w = app.shell.currentWidget;
if (!w) { return null; }
const out = {id: w.id, label: w.title.label, classes: w.node.className,
             path: w.context ? w.context.path : null,
             dirty: w.context && w.context.model ? w.context.model.dirty : null};
const nb = w.content && w.content.model && w.content.model.cells ? w.content.model : null;
out.notebook = !!nb;
out.editor = !!w.node.querySelector('.jp-FileEditor');
if (nb) {
  const cells = [];
  for (let i = 0; i < nb.cells.length; i++) {
    const c = nb.cells.get(i);
    const md = typeof c.getMetadata === 'function' ? (c.getMetadata('tags') || []) :
               ((c.metadata && c.metadata.tags) || []);
    const cell = {type: c.type, tags: md};
    if (c.type === 'code') {
      cell.count = c.executionCount;
      cell.outputs = c.outputs.toJSON().map(o => ({type: o.output_type, ename: o.ename,
                                                   evalue: o.evalue}));
    }
    cells.push(cell);
  }
  out.cells = cells;
  const s = w.sessionContext;
  out.kernel = s && s.session && s.session.kernel ? s.session.kernel.name : null;
  out.kernelStatus = s ? s.kernelDisplayStatus : null;
  out.renderedCells = w.node.querySelectorAll('.jp-Cell').length;
}
return out;
"""


@dataclass
class Result:
    """What the check found for one notebook."""

    path: str
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    seconds: float = 0.0


def book_notebooks(root: Path) -> list[str]:
    """The book's jupytext notebooks, relative to ``root`` (``book/**/*.py``), sorted.

    Files in hidden folders (``.ipynb_checkpoints``) are not the book's.
    """
    found = []
    for path in (root / "book").rglob("*.py"):
        rel = path.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):
            found.append(rel.as_posix())
    return sorted(found)


def checkpoint_dirs(root: Path) -> set[Path]:
    """The ``.ipynb_checkpoints`` folders JupyterLab leaves where the check opens files
    (``root/book`` and the folder of :data:`MODULE`)."""
    folders = (root / "book", (root / MODULE).parent)
    return {found for folder in folders for found in folder.rglob(".ipynb_checkpoints")}


def git_status(root: Path) -> str | None:
    """``git status --porcelain`` of ``root``; None outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_browser(*, width: int = 1440, height: int = 1000):
    """Headless Chromium under Selenium (system chromium and chromedriver, no downloads)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        raise LabCheckError(
            "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def wait_for(
    what: str, condition: Callable[[], Any], timeout: float, *, interval: float = 0.25
) -> Any:
    """Poll ``condition`` until it returns something truthy; LabCheckError after ``timeout``.

    Exceptions raised by ``condition`` (stale elements while JupyterLab re-renders) count as
    "not yet"; the last one is quoted in the error.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except LabCheckError:
            raise
        except Exception as exc:  # selenium's stale/not-interactable errors and the like
            last = exc
        if time.monotonic() > deadline:
            detail = (
                f" (last error: {type(last).__name__}: {str(last).splitlines()[0]})" if last else ""
            )
            raise LabCheckError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


class LabPage:
    """The JupyterLab page: the file browser and the current notebook."""

    def __init__(self, driver, server: LabServer, *, timeout: float = 60.0) -> None:
        self.driver = driver
        self.server = server
        self.timeout = timeout

    def load(self) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.server.url}/lab?reset&token={self.server.token}")
        wait_for(
            "the JupyterLab file browser to list the project",
            lambda: (
                self.driver.find_elements(By.CSS_SELECTOR, "li.jp-DirListing-item")
                and self.driver.execute_script("return !!window.jupyterapp")
            ),
            self.timeout,
        )

    def current(self) -> dict | None:
        return self.driver.execute_script(_JS_CURRENT)

    def _item(self, name: str):
        from selenium.webdriver.common.by import By

        xpath = (
            "//li[contains(@class,'jp-DirListing-item')]"
            f"[.//span[contains(@class,'jp-DirListing-itemText')]/span[normalize-space(.)='{name}']]"
        )
        items = [el for el in self.driver.find_elements(By.XPATH, xpath) if el.is_displayed()]
        return items[0] if items else None

    def double_click(self, name: str) -> None:
        """Double-click the file browser entry ``name`` (in the folder shown)."""
        from selenium.webdriver.common.action_chains import ActionChains

        def attempt():
            item = self._item(name)
            if item is None:
                return False
            ActionChains(self.driver).double_click(item).perform()
            return True

        wait_for(f"'{name}' in the file browser", attempt, self.timeout)

    def browse_home(self) -> None:
        from selenium.webdriver.common.by import By

        def attempt():
            self.driver.find_element(By.CSS_SELECTOR, ".jp-BreadCrumbs-home").click()
            return True

        wait_for("the file browser's home folder", attempt, self.timeout)

    def open_by_double_click(self, rel: str) -> None:
        """Open ``rel`` (e.g. ``book/study_a/results.py``) as a user would: folder by folder."""
        self.browse_home()
        *folders, name = rel.split("/")
        for folder in folders:
            self.double_click(folder)
        self.double_click(name)

    def wait_current(self, rel: str, what: str, check: Callable[[dict], Any], timeout=None):
        """Wait until the current widget shows ``rel`` and ``check(info)`` is truthy."""

        def condition():
            info = self.current()
            if info and info.get("error"):
                raise LabCheckError(info["error"])
            if not info or info.get("path") != rel:
                return None
            return info if check(info) else None

        return wait_for(f"{rel}: {what}", condition, timeout or self.timeout)

    def keys(self, *keys: str, modifier: str | None = None) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        chain = ActionChains(self.driver)
        if modifier:
            chain.key_down(modifier)
        for key in keys:
            chain.send_keys(key)
        if modifier:
            chain.key_up(modifier)
        chain.perform()

    def focus_first_cell(self, info: dict) -> None:
        """Click the prompt of the notebook's first cell (command mode, cell selected)."""
        from selenium.webdriver.common.by import By

        def attempt():
            panel = self.driver.find_element(By.ID, info["id"])
            prompt = panel.find_element(By.CSS_SELECTOR, ".jp-Cell .jp-InputPrompt")
            prompt.click()
            return True

        wait_for(f"{info['path']}: its first cell to take a click", attempt, self.timeout)

    def select_cell(self, info: dict, index: int) -> None:
        """Click the input prompt of cell ``index`` (command mode, cell active)."""
        from selenium.webdriver.common.by import By

        def attempt():
            panel = self.driver.find_element(By.ID, info["id"])
            cells = panel.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
            cells[index].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
            return True

        wait_for(f"{info['path']}: cell {index + 1} to take a click", attempt, self.timeout)

    def applied_tags(self) -> list[str]:
        """The active cell's tags as the property inspector shows them (opened if needed)."""
        from selenium.webdriver.common.by import By

        self.driver.execute_script(
            "window.jupyterapp.commands.execute('property-inspector:show-panel')"
        )

        def expanded():
            for header in self.driver.find_elements(
                By.CSS_SELECTOR, "#jp-right-stack .jp-Collapse-header"
            ):
                if header.text.strip().upper() == "COMMON TOOLS":
                    if "jp-Collapse-header-collapsed" in (header.get_attribute("class") or ""):
                        header.click()
                        return False
                    return True
            return False

        wait_for("the property inspector's common tools", expanded, self.timeout)
        return [
            el.text.strip()
            for el in self.driver.find_elements(
                By.CSS_SELECTOR, "#jp-right-stack .jp-CellTags-Applied"
            )
            if el.is_displayed()
        ]

    def screenshot(self, out: Path) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(out))
        return out


def check_notebook(
    page: LabPage, root: Path, rel: str, out_dir: Path, *, run_cells: int = 0
) -> Result:
    """Open, check, optionally run, save and close one notebook; problems are collected."""

    result = Result(rel)
    start = time.monotonic()
    path = root / rel
    before = digest(path)
    mtime = path.stat().st_mtime_ns
    shot = out_dir / (rel.replace("/", "_").removesuffix(".py") + ".png")
    try:
        page.open_by_double_click(rel)
        info = page.wait_current(rel, "a tab for it", lambda i: True)
        if not info["notebook"]:
            page.screenshot(shot)
            result.screenshot = shot
            kind = "the text editor" if info["editor"] else f"a widget of class {info['classes']}"
            raise LabCheckError(f"{rel}: opened in {kind}, not as a notebook")
        info = page.wait_current(
            rel,
            "its cells to render and its kernel to start",
            lambda i: i["cells"] and i["renderedCells"] > 0 and i["kernelStatus"] == "idle",
            timeout=120,
        )
        time.sleep(1.0)  # the kernel's metadata reaches the model just after it starts
        if (page.current() or {}).get("dirty"):
            result.problems.append(f"{rel}: opened marked modified, without an edit")
        if info["kernel"] != KERNEL_NAME:
            result.problems.append(f"{rel}: kernel {info['kernel']!r}, expected {KERNEL_NAME!r}")
        tagged = [k for k, c in enumerate(info["cells"]) if "parameters" in c["tags"]]
        if len(tagged) != 1:
            result.problems.append(f"{rel}: {len(tagged)} cells tagged 'parameters', expected 1")
        else:
            # as a reader sees it: the cell's tags in the property inspector
            page.select_cell(info, tagged[0])
            shown = wait_for(
                f"{rel}: the property inspector to show the 'parameters' tag",
                lambda: "parameters" in page.applied_tags() and page.applied_tags(),
                page.timeout,
            )
            if shown != ["parameters"]:
                result.problems.append(f"{rel}: the parameters cell shows tags {shown}")

        if run_cells:
            _run_first_cells(page, rel, info, run_cells, result)
        result.screenshot = page.screenshot(shot)

        _save_and_compare(page, root, rel, (before, mtime), result)
        # close the tab and stop its kernel: one kernel at a time on a small machine
        page.driver.execute_script("window.jupyterapp.commands.execute('application:close')")
        page.server.stop_kernels()
    except LabCheckError as exc:
        result.problems.append(str(exc) if str(exc).startswith(rel) else f"{rel}: {exc}")
    except Exception as exc:  # a browser/driver failure: name the notebook and go on
        result.problems.append(f"{rel}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    if result.problems and result.screenshot is None:
        try:
            result.screenshot = page.screenshot(shot.with_name(shot.stem + "_failed.png"))
        except Exception:
            pass
    result.seconds = time.monotonic() - start
    return result


def _run_first_cells(page: LabPage, rel: str, info: dict, run_cells: int, result: Result) -> None:
    """Shift+Enter through the first ``run_cells`` cells, as a reader starts a chapter."""
    from selenium.webdriver.common.keys import Keys

    page.focus_first_cell(info)
    for _ in range(run_cells):
        page.keys(Keys.ENTER, modifier=Keys.SHIFT)
    code = [c for c in info["cells"][:run_cells] if c["type"] == "code"]

    def ran(i: dict) -> bool:
        done = [c for c in i["cells"][:run_cells] if c["type"] == "code"]
        return (
            len(done) == len(code) and all(c["count"] for c in done) and i["kernelStatus"] == "idle"
        )

    info = page.wait_current(rel, f"its first {run_cells} cells to run", ran, timeout=240)
    errors = [
        f"{o['ename']}: {o['evalue']}"
        for c in info["cells"][:run_cells]
        for o in c.get("outputs", [])
        if o["type"] == "error"
    ]
    if errors:
        result.problems.append(f"{rel}: error output in the first cells: {errors[0]}")
    if not any(c.get("outputs") for c in info["cells"][:run_cells]):
        result.problems.append(f"{rel}: the first {run_cells} cells gave no output")


def _save_and_compare(
    page: LabPage, root: Path, rel: str, before: tuple[str, int], result: Result
) -> None:
    """Ctrl+S, wait for the file on disk, and compare it with its digest before opening."""
    from selenium.webdriver.common.keys import Keys

    path = root / rel
    digest_before, mtime = before
    page.keys("s", modifier=Keys.CONTROL)
    page.wait_current(rel, "Ctrl+S to save it", lambda i: i["dirty"] is False, timeout=30)
    wait_for(f"{rel}: the saved file on disk", lambda: path.stat().st_mtime_ns != mtime, 30)
    # the server may still be writing when the new mtime shows: give the file a few
    # seconds to settle before calling it changed (a changed file stays changed)
    settle = time.monotonic() + 5.0
    while digest(path) != digest_before and time.monotonic() < settle:
        time.sleep(0.25)
    if digest(path) != digest_before:
        diff = subprocess.run(
            ["git", "diff", "--stat", "--", rel], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        result.problems.append(f"{rel}: saving from JupyterLab changed the file {diff}")


def _dialog(page: LabPage) -> str:
    """The text of an open JupyterLab dialog ("Save your work?"), or ``""``."""
    return page.driver.execute_script(
        "const d = document.querySelector('.jp-Dialog'); return d ? d.innerText : '';"
    )


def check_left_alone(page: LabPage, root: Path, rel: str, out_dir: Path) -> Result:
    """Open ``rel`` by double-click, wait past an autosave, close it: nothing may mark it
    modified, write it, or ask to save it."""
    result = Result(f"{rel} (open, wait, close)")
    start = time.monotonic()
    path = root / rel
    before, mtime = digest(path), path.stat().st_mtime_ns
    shot = out_dir / (rel.replace("/", "_").removesuffix(".py") + "_left_alone.png")
    try:
        page.open_by_double_click(rel)
        info = page.wait_current(rel, "a tab for it", lambda i: True)
        if info["notebook"]:
            info = page.wait_current(
                rel,
                "its cells to render and its kernel to start",
                lambda i: i["cells"] and i["renderedCells"] > 0 and i["kernelStatus"] == "idle",
                timeout=120,
            )
        time.sleep(3 * AUTOSAVE_SECONDS)  # past an autosave (every AUTOSAVE_SECONDS here)
        info = page.current() or {}
        result.screenshot = page.screenshot(shot)
        if info.get("dirty"):
            result.problems.append(f"{rel}: opened marked modified, without an edit")
        if digest(path) != before or path.stat().st_mtime_ns != mtime:
            diff = subprocess.run(
                ["git", "diff", "--stat", "--", rel], cwd=root, capture_output=True, text=True
            ).stdout.strip()
            result.problems.append(f"{rel}: written while open, without an edit {diff}")
        page.driver.execute_script("window.jupyterapp.commands.execute('application:close')")
        time.sleep(1.5)
        prompt = _dialog(page)
        if prompt:
            result.problems.append(f"{rel}: closing asked {' '.join(prompt.split())[:80]!r}")
            page.driver.execute_script(  # answer it without saving
                "const b = [...document.querySelectorAll('.jp-Dialog button')]"
                ".find(b => /discard|don.t save/i.test(b.innerText)); if (b) b.click();"
            )
        page.server.stop_kernels()
    except LabCheckError as exc:
        result.problems.append(str(exc) if str(exc).startswith(rel) else f"{rel}: {exc}")
    except Exception as exc:  # a browser/driver failure: name the file and go on
        result.problems.append(f"{rel}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    result.seconds = time.monotonic() - start
    return result


def run_check(
    root: Path, out_dir: Path, *, notebooks: list[str] | None = None, run_cells: int = 5
) -> list[Result]:
    """Start JupyterLab, check ``notebooks`` (default: the book's) in Chromium, stop it."""
    root = root.resolve()
    notebooks = notebooks or book_notebooks(root)
    if not notebooks:
        raise LabCheckError(f"no notebooks under {root / 'book'}")
    # the notebook that runs cells goes first, while the machine is quiet
    notebooks = sorted(notebooks, key=lambda rel: rel != RUN_NOTEBOOK)
    status_before = git_status(root)
    checkpoints_before = checkpoint_dirs(root)
    server = LabServer(root, out_dir / "server.log", autosave_seconds=AUTOSAVE_SECONDS)
    driver = None
    results: list[Result] = []
    try:
        server.start()
        print(f"[lab-check] JupyterLab on {server.url} (log: {server.log})", flush=True)
        driver = start_browser()
        page = LabPage(driver, server)
        page.load()
        for rel in notebooks:
            result = check_notebook(
                page, root, rel, out_dir, run_cells=run_cells if rel == RUN_NOTEBOOK else 0
            )
            verdict = "ok" if not result.problems else "FAILED"
            print(f"[lab-check] {rel}: {verdict} ({result.seconds:.1f} s)", flush=True)
            results.append(result)
        for rel in (CLOSE_NOTEBOOK, MODULE):
            if (root / rel).is_file():
                result = check_left_alone(page, root, rel, out_dir)
                verdict = "ok" if not result.problems else "FAILED"
                print(f"[lab-check] {result.path}: {verdict} ({result.seconds:.1f} s)", flush=True)
                results.append(result)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        server.stop()
        # the check's saves leave checkpoints (git-ignored); remove the ones it made
        for folder in checkpoint_dirs(root) - checkpoints_before:
            shutil.rmtree(folder, ignore_errors=True)
    log = server.log.read_text(encoding="utf-8", errors="replace") if server.log.exists() else ""
    if "without encryption" in log:
        results.append(
            Result("server log", ["a kernel warned: running over TCP without encryption"])
        )
    status_after = git_status(root)
    if status_before is not None and status_after != status_before:
        changed = sorted(set(status_after.splitlines()) ^ set(status_before.splitlines()))
        results.append(
            Result("git status", [f"git status --porcelain changed: {'; '.join(changed)}"])
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mpirad.jupyter.labcheck", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root")
    parser.add_argument("--out", type=Path, default=Path("build/screenshots/lab"))
    parser.add_argument("--run-cells", type=int, default=5, help=f"cells of {RUN_NOTEBOOK}")
    parser.add_argument("notebooks", nargs="*", help="paths relative to the root (default: book)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        results = run_check(
            args.root, args.out, notebooks=args.notebooks or None, run_cells=args.run_cells
        )
    except LabCheckError as exc:
        print(f"[lab-check] FAILED: {exc}", file=sys.stderr)
        return 1
    problems = [p for r in results for p in r.problems]
    for r in results:
        if r.screenshot:
            print(f"[lab-check] screenshot: {r.screenshot}")
    for problem in problems:
        print(f"[lab-check] FAILED: {problem}", file=sys.stderr)
    checked = sum(1 for r in results if r.path not in ("git status", "server log"))
    print(
        f"[lab-check] {checked} notebooks, {len(problems)} problems, "
        f"{time.monotonic() - start:.0f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
