"""Run every benchmark (``make bench``): each ``bench_*.py`` here prints its own table.

Benchmarks measure ratios against a baseline computed in the same run, so the numbers
compare across machines; absolute times are printed for the record. Run one with
``python benchmarks/run.py synth`` (name without ``bench_``).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    status = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"\n=== {path.name} ===", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        start = time.perf_counter()
        try:
            result = module.main([]) if _takes_args(module.main) else module.main()
        except Exception as exc:  # report and go on with the others
            print(f"{path.name} failed: {type(exc).__name__}: {exc}")
            status = 1
            continue
        if isinstance(result, int) and result != 0:
            status = 1
        print(f"({path.name}: {time.perf_counter() - start:.1f} s)")
    return status


def _takes_args(func) -> bool:
    import inspect

    return bool(inspect.signature(func).parameters)


if __name__ == "__main__":
    raise SystemExit(main())
