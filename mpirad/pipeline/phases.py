"""``make book``'s phases and their times, printed at the end of the build.

``make book`` calls this module three times::

    python -m mpirad.pipeline.phases mark                 # before book-inputs
    python -m mpirad.pipeline.phases record "jupyter-book build" START  # epoch seconds
    python -m mpirad.pipeline.phases report               # last

``mark`` keeps a copy of ``build/timings.json`` (each computed step's wall-clock time,
:func:`mpirad.pipeline.report.record_timing`) and the time; ``report`` prints, per phase
(:data:`PHASES`), the steps this build computed (their entry changed since the mark), the
ones it reused, and the pages Jupyter Book executed with their run times (from Sphinx's
environment: myst-nb's execution data), so that a slow build says where its time went.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

from mpirad.pipeline.paths import book_dir
from mpirad.pipeline.report import record_timing, timings_path

#: phase -> the prefix of its steps in ``build/timings.json``
PHASES: dict[str, str] = {
    "datasets (generated when absent)": "dataset ",
    "Study A split runs (papermill)": "study A split",
    "Study B features": "study B features",
    "Study B feature selection": "study B feature selection",
    "jupyter-book build": "jupyter-book build",
}


def _mark_path() -> Path:
    return book_dir() / "phases.mark.json"


def _read_timings() -> dict:
    path = timings_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def mark() -> None:
    """Remember the recorded step times and the time, at the start of ``make book``."""
    path = _mark_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"time": time.time(), "timings": _read_timings()}
    path.write_text(json.dumps(state), encoding="utf-8")


def executed_pages(since: float, doctrees: Path = Path("_build/.doctrees")) -> dict[str, float]:
    """Pages Jupyter Book executed after ``since`` (epoch seconds): docname -> seconds."""
    try:
        with (doctrees / "environment.pickle").open("rb") as handle:
            env = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, AttributeError, ImportError, EOFError):
        return {}
    pages = {}
    for docname, data in (getattr(env, "nb_metadata", None) or {}).items():
        execution = data.get("exec_data") if isinstance(data, dict) else None
        if execution and (execution.get("mtime") or 0) >= since and execution.get("runtime"):
            pages[docname] = float(execution["runtime"])
    return pages


def phases_report(
    before: dict, after: dict, pages: dict[str, float], wall: float | None = None
) -> str:
    """The phases of one build as text: per phase its computed steps' total, and why.

    Args:
        before: ``build/timings.json`` at the start of the build.
        after: ``build/timings.json`` at its end.
        pages: pages Jupyter Book executed (:func:`executed_pages`).
        wall: the build's wall-clock seconds, start to end; the steps' sum exceeds it
            when steps ran side by side (the Study A split runs go two at a time).
    """
    lines, total = ["make book: phases (wall-clock seconds)"], 0.0
    for phase, prefix in PHASES.items():
        steps = [k for k in after if k.startswith(prefix)]
        computed = [k for k in steps if after[k] != before.get(k)]
        seconds = sum(float(after[k]["seconds"]) for k in computed)
        total += seconds
        reused = len(steps) - len(computed)
        note = f"{len(computed)} computed" + (f", {reused} reused" if reused else "")
        lines.append(f"  {phase:<36} {seconds:8.1f} s  ({note})")
        if phase == "jupyter-book build" and pages:
            for page, runtime in sorted(pages.items(), key=lambda item: -item[1]):
                lines.append(f"      executed {page:<40} {runtime:6.1f} s")
    lines.append(f"  {'sum of the steps':<36} {total:8.1f} s")
    if wall is not None:
        lines.append(
            f"  {'wall clock of the build':<36} {wall:8.1f} s  (less than the sum where steps "
            "ran side by side: split runs go two at a time)"
        )
    return "\n".join(lines)


def report() -> str:
    """:func:`phases_report` of the build since :func:`mark`."""
    try:
        state = json.loads(_mark_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        state = {"time": 0.0, "timings": {}}
    wall = time.time() - state["time"] if state["time"] else None
    return phases_report(
        state["timings"], _read_timings(), executed_pages(state["time"]), wall=wall
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["mark"]:
        mark()
    elif argv[:1] == ["record"] and len(argv) == 3:
        record_timing(argv[1], time.time() - float(argv[2]))
    elif argv[:1] == ["report"]:
        print(report())
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
