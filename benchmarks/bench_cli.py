"""Benchmark: the command line answers at once (target: ``--help`` of every verb under 1 s).

Times ``mpirad --help`` and ``mpirad <verb> --help`` for every verb, each in a fresh
process (median of a few runs), against two baselines measured in the same run: a bare
``python -c pass`` (the interpreter's own start-up) and ``python -c "import torch"`` (what
every verb paid when the package imported torch at start-up). The table prints seconds
and the ratio to the bare interpreter.

Run: ``python benchmarks/bench_cli.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import pandas as pd


def _seconds(args: list[str], repeats: int) -> float:
    """Median wall time of running ``args`` in a fresh process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _verbs() -> list[str]:
    import typer.main

    from mpirad.cli import app

    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    python = [sys.executable]
    rows = [
        ("python -c pass (baseline)", python + ["-c", "pass"]),
        ("python -c 'import torch'", python + ["-c", "import torch"]),
        ("mpirad --help", python + ["-m", "mpirad", "--help"]),
    ]
    rows += [(f"mpirad {v} --help", python + ["-m", "mpirad", v, "--help"]) for v in _verbs()]
    table = pd.DataFrame(
        [{"command": name, "seconds": _seconds(cmd, args.repeats)} for name, cmd in rows]
    )
    table["x baseline"] = (table["seconds"] / table["seconds"].iloc[0]).round(1)
    table["seconds"] = table["seconds"].round(2)
    table["under 1 s"] = table["seconds"] < 1.0
    print(table.to_string(index=False))
    verbs = table["command"].str.startswith("mpirad")
    return 0 if table.loc[verbs, "under 1 s"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
