"""The command line stays light: no verb's ``--help`` imports the heavy libraries.

Speed itself is measured in ``benchmarks/bench_cli.py``; here, in a fresh interpreter,
``mpirad --help`` and every verb's ``--help`` run and the test checks which modules that
loaded. Each of the modules below adds seconds to start-up (torch alone 2-5 s).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "mirp", "radiomics", "statsmodels", "SimpleITK", "sklearn")
HEAVY += ("dask", "distributed")  # only a run with a scheduler imports Dask

SCRIPT = """
import json, sys
import typer.main
from mpirad.cli import app
verbs = sorted(typer.main.get_command(app).commands)
for argv in [["--help"]] + [[verb, "--help"] for verb in verbs]:
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"verbs": verbs, "heavy": heavy}}))
"""


def test_help_of_every_verb_imports_no_heavy_library():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["verbs"]) >= 10, report["verbs"]
    assert report["heavy"] == [], f"--help imported {report['heavy']}"


def test_lazy_exports_resolve_to_the_defining_modules():
    import mpirad.stats
    import mpirad.tomo
    from mpirad.stats.protocol import run_protocol
    from mpirad.tomo.run import run_split

    assert mpirad.tomo.run_split is run_split
    assert mpirad.stats.run_protocol is run_protocol
    for package in (mpirad.tomo, mpirad.stats):
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert not missing, f"{package.__name__} exports names it cannot resolve: {missing}"
