"""``python -m mpirad``."""

from mpirad.cli import app

app(prog_name="mpirad")
