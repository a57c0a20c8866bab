"""Lazy package exports: ``from mpirad.tomo import run_split`` without importing torch early.

A subpackage's ``__init__`` lists the names it exports and the module each lives in;
importing the subpackage imports none of them, and the first use of a name imports its
module (PEP 562 module ``__getattr__``). This keeps ``mpirad --help`` and every verb's
``--help`` fast: the command line imports each subpackage's ``cli.py``, and with eager
``__init__`` files that alone loaded torch, torchvision, statsmodels and mirp.

Use in a subpackage's ``__init__.py``::

    from mpirad.lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(
        __name__, {"mpirad.tomo.run": ("run_split", "run_all_splits"), ...}
    )
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for a package's lazy exports.

    Args:
        package: the package's ``__name__``.
        exports: module path -> the names of that module the package exports.

    Returns:
        ``(__getattr__, __dir__, __all__)`` to assign in the package's namespace.

    Raises:
        ValueError: a name is exported from two modules.
    """
    home: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in home:
                raise ValueError(f"{package}: {name!r} exported from {home[name]} and {module}")
            home[name] = module

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home[name]), name)
        setattr(importlib.import_module(package), name, value)  # later lookups are direct
        return value

    def __dir__() -> list[str]:
        return sorted(set(home) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__, sorted(home)
