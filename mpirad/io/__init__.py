"""Readers and writers of the field's file formats.

Every reader names the file and the problem when the input is bad.
"""

from __future__ import annotations

from mpirad.io.atomic import atomic_path, atomic_write

__all__ = ["atomic_path", "atomic_write"]
