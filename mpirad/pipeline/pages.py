"""Which pages of the book are current: each executed page's inputs, recorded and checked.

Jupyter Book's execution cache knows a notebook's *source*, not the data it reads, and
Sphinx re-reads a page only when its source file changes; on their own they publish a
page that failed, or one computed from data that no longer exist. mpirad decides instead,
from its own records:

- **What a page is made from** (:func:`page_inputs`): its source (a digest of the file),
  the mpirad version, and the parts of ``build/book/context.json`` it reads (per
  :data:`PAGE_READS`: the dataset name, fingerprint and input-step records of Study A
  and/or B, the profile, the manifest; a page reading another page's outputs, that
  page's inputs; a page reading data that is not ours, the files of the folder its
  environment variable names). :func:`page_digest` is a short hash of it.
- **Re-executing exactly the pages whose inputs changed** (the Sphinx extension
  :func:`setup`, listed in ``_config.yml``): before Sphinx reads, every executed page
  whose recorded digest differs from the wanted one, or whose last execution failed,
  is marked out of date and its entries in the execution cache are removed, so it is
  executed again; pages whose inputs did not change are read back from the cache.
  As each page is read, the digest it was executed with and whether it succeeded are
  written at once to ``build/book/pages.json`` (a page about to be read again is marked
  unfinished first, so an interrupted build leaves it out of date, whatever Sphinx's
  own environment says).
- **Never a stale page reported as built** (:func:`verify_pages`, ``mpirad book-verify``,
  the last step of ``make book``): every executed page of the table of contents must be
  in ``pages.json`` with the wanted digest and a successful execution, and every Study A
  split run rendered must carry the record ``book-inputs`` made current; otherwise the
  command names each page and why, and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpirad.pipeline.book import BookContext, read_context
from mpirad.pipeline.paths import book_dir
from mpirad.provenance import digest

#: What each executed page reads besides its source: ``"a"``/``"b"`` (the book's dataset
#: of that study: name, fingerprint, input records, profile), ``"manifest"``
#: (``data_manifest.yaml``), ``"page:<docname>"`` (another page's outputs, e.g. the
#: outcome chapter's protocol tables). A page not listed reads everything (:data:`EVERYTHING`).
PAGE_READS: dict[str, tuple[str, ...]] = {
    "book/datasets": ("a", "b", "manifest"),
    "book/synthetic_cohort": ("a", "b"),
    "book/study_a/results": ("a",),
    "book/study_b/ibsi_conformance": (
        "env:MPIRAD_IBSI_DIGITAL_PHANTOM",
        "env:MPIRAD_IBSI_CT_PHANTOM",
    ),
    "book/real_scans": ("b", "env:MPIRAD_PHYSIONET_MPS"),
    "book/study_b/radiomics": ("b",),
    "book/study_b/outcome": ("b",),
    "book/using_a_model": ("a", "b", "page:book/study_b/outcome"),
    "book/reproducibility": ("a", "b", "manifest"),
}
#: The reads of a page not in :data:`PAGE_READS`.
EVERYTHING: tuple[str, ...] = ("a", "b", "manifest")
#: Source suffixes of pages Jupyter Book executes (``.md`` pages are not executed).
NOTEBOOK_SUFFIXES = (".py", ".ipynb")


def pages_path() -> Path:
    """``build/book/pages.json``: what every executed page of the last build was made from."""
    return book_dir() / "pages.json"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "absent"


def _folder_digest(variable: str) -> str:
    """The files of the folder an environment variable names (data that is not ours, read
    by a page when present): ``unset``, ``absent``, or a hash of every file's relative path,
    size and modification time."""
    import os

    named = os.environ.get(variable, "").strip()
    if not named:
        return "unset"
    folder = Path(named).expanduser()
    if not folder.is_dir():
        return "absent"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = [(p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
               for p in files]  # fmt: skip
    return digest({"folder": str(folder), "files": listing})


def _study_inputs(context: BookContext, study: str) -> dict[str, Any]:
    name = context.dataset(study)
    prefix = f"study_{study}/"
    return {
        "dataset": name,
        "fingerprint": context.fingerprints.get(name or "", ""),
        "inputs": {k: v for k, v in sorted(context.inputs.items()) if k.startswith(prefix)},
        "profile": context.profile,
        **({"profile_overrides": context.profile_overrides} if study == "a" else {}),
    }


def page_inputs(
    docname: str, root: Path, context: BookContext | None = None, *, _seen: tuple = ()
) -> dict[str, Any]:
    """Everything an executed page is made from (module docstring).

    Args:
        docname: the page's name in the book, e.g. ``book/study_b/outcome``.
        root: the project root (the page's source is ``root/<docname>.py`` or ``.ipynb``).
        context: the book's context (default: ``build/book/context.json``).

    Returns:
        A JSON-able dict: ``source`` (digest of the page's file), ``mpirad`` (version) and
        one entry per read of :data:`PAGE_READS`.
    """
    from mpirad import __version__

    context = context or read_context()
    source = next(
        (root / f"{docname}{s}" for s in NOTEBOOK_SUFFIXES if (root / f"{docname}{s}").is_file()),
        root / f"{docname}.py",
    )
    inputs: dict[str, Any] = {"source": _file_digest(source), "mpirad": __version__}
    for read in PAGE_READS.get(docname, EVERYTHING):
        if read in ("a", "b"):
            inputs[f"study_{read}"] = _study_inputs(context, read)
        elif read == "manifest":
            inputs["manifest"] = _file_digest(root / "data_manifest.yaml")
        elif read.startswith("env:"):
            inputs[read] = _folder_digest(read[4:])
        elif read.startswith("page:") and read[5:] not in _seen:
            other = read[5:]
            inputs[read] = digest(page_inputs(other, root, context, _seen=(*_seen, docname)))
    return inputs


def page_digest(docname: str, root: Path, context: BookContext | None = None) -> str:
    """A short hash of :func:`page_inputs`."""
    return digest(page_inputs(docname, root, context))


def is_executed_page(source: Path, root: Path) -> bool:
    """Whether Jupyter Book executes the page at ``source``: a notebook under ``book/``
    (the Study A split runs under ``build/runs/`` are executed by papermill instead)."""
    try:
        relative = source.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return relative.parts[:1] == ("book",) and source.suffix in NOTEBOOK_SUFFIXES


# --------------------------------------------------------------------------------------
# the Sphinx extension
# --------------------------------------------------------------------------------------


def _root(app) -> Path:
    from mpirad.manifest import project_root

    return project_root(app.srcdir)


def read_pages() -> dict[str, dict]:
    """``build/book/pages.json``: docname -> what its last read was made from, and whether
    its execution succeeded (empty when there is none)."""
    try:
        return json.loads(pages_path().read_text(encoding="utf-8")).get("pages", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_pages(pages: dict[str, dict]) -> None:
    from mpirad.io.atomic import atomic_write

    path = pages_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump({"pages": pages}, handle, indent=1, sort_keys=True)
        handle.write("\n")


def _set_page(docname: str, entry: dict | None) -> None:
    """Record one page in ``pages.json`` at once (a build interrupted later keeps it)."""
    pages = read_pages()
    if entry is None:
        pages.pop(docname, None)
    else:
        pages[docname] = entry
    _write_pages(pages)


def _executed_docs(app, env) -> dict[str, Path]:
    root = _root(app)
    docs = {}
    for docname in sorted(env.found_docs):
        source = Path(env.doc2path(docname))
        if is_executed_page(source, root):
            docs[docname] = source
    return docs


def _remove_cached(app, sources: list[Path]) -> None:
    """Drop the execution-cache entries of ``sources``: they are executed again."""
    cache_path = getattr(app.config, "nb_execution_cache_path", "") or ""
    if not sources or not cache_path or not Path(cache_path).is_dir():
        return
    from jupyter_cache import get_cache

    cache = get_cache(cache_path)
    uris = {str(s) for s in sources} | {str(s.resolve()) for s in sources}
    for record in cache.list_cache_records():
        if record.uri in uris or str(Path(record.uri).resolve()) in uris:
            cache.remove_cache(record.pk)


def out_of_date(docname: str, recorded: dict | None, wanted: str) -> str:
    """Why a page must be executed again (``""``: it is current)."""
    if not recorded:
        return "no record of a successful execution"
    if not recorded.get("succeeded"):
        return "its last execution failed or was interrupted"
    if recorded.get("inputs") != wanted:
        return "its inputs changed"
    return ""


def _outdated(app, env, added, changed, removed) -> list[str]:
    """``env-get-outdated``: the executed pages whose inputs changed or whose run failed;
    their execution-cache entries are removed so that they are executed again."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    root, context, pages = _root(app), read_context(), read_pages()
    stale, to_execute = [], []
    for docname, source in _executed_docs(app, env).items():
        why = out_of_date(docname, pages.get(docname), page_digest(docname, root, context))
        if not why:
            continue
        to_execute.append(source)
        logger.info(f"[mpirad] page {docname}: out of date ({why}); executing it again")
        if docname not in added and docname not in changed:
            stale.append(docname)
    _remove_cached(app, to_execute)
    return stale


def _purge(app, env, docname) -> None:
    """``env-purge-doc``: a page being read again has no valid record until it is read."""
    entry = read_pages().get(docname)
    if entry is not None:
        _set_page(docname, {**entry, "succeeded": False, "error": "being read again"})


def _record(app, doctree) -> None:
    """``doctree-read``: the inputs an executed page was read with, and whether it ran."""
    from myst_nb.sphinx_ import NbMetadataCollector

    env = app.env
    source = Path(env.doc2path(env.docname))
    if not is_executed_page(source, _root(app)):
        return
    data = NbMetadataCollector.get_exec_data(env, env.docname) or {}
    _set_page(
        env.docname,
        {
            "inputs": page_digest(env.docname, _root(app)),
            "succeeded": bool(data.get("succeeded")),
            "error": data.get("error"),
            "executed": data.get("mtime"),
        },
    )


def _finished(app, exception) -> None:
    """``build-finished``: warn of every executed page that did not execute successfully."""
    from sphinx.util import logging

    if exception is not None:
        return
    pages = read_pages()
    for docname in _executed_docs(app, app.env):
        page = pages.get(docname, {})
        if not page.get("succeeded"):
            logging.getLogger(__name__).warning(
                f"[mpirad] page {docname} did not execute successfully "
                f"({page.get('error') or 'not executed'}); the next build executes it again"
            )


def _cache_in_the_book(app, config) -> None:
    """Resolve a relative execution-cache path (``_config.yml`` ``execute.cache``) against
    the book's folder, not the working directory: a book built from elsewhere
    (``jupyter-book build PATH``) must not read pages another book executed from the same
    source (jupyter-cache matches a notebook by its code, not by the data it reads)."""
    cache = getattr(config, "nb_execution_cache_path", "") or ""
    if cache and not Path(cache).is_absolute():
        config.nb_execution_cache_path = str(Path(app.srcdir) / cache)


def setup(app) -> dict[str, Any]:
    """Sphinx extension (``_config.yml``: ``sphinx.extra_extensions``)."""
    app.setup_extension("mpirad.jupyter.kernels")  # kernels with CurveZMQ keys
    app.connect("config-inited", _cache_in_the_book)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("doctree-read", _record)
    app.connect("build-finished", _finished)
    # pages.json is written by the reading process: no parallel reads
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}


# --------------------------------------------------------------------------------------
# after the build
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageProblem:
    """A page that must not be published: its name and why."""

    page: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: {self.reason}"


def toc_docnames(toc: Path) -> list[str]:
    """Every page (``root`` and ``file:`` entries) of a Jupyter Book table of contents."""
    import yaml

    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    name = node[key]
                    for suffix in (".md", ".ipynb", ".py"):
                        name = name.removesuffix(suffix)
                    names.append(name)
            for value in node.values():
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return list(dict.fromkeys(names))


def verify_pages(
    root: Path | None = None, toc: Path | None = None
) -> tuple[list[str], list[PageProblem]]:
    """Check the last build against the book's current inputs (module docstring).

    Args:
        root: the project root (default: the manifest's folder).
        toc: the table of contents built (default: ``build/book/_toc.yml``).

    Returns:
        ``(current pages, problems)``; the book may be published only when ``problems``
        is empty.
    """
    from mpirad.manifest import project_root
    from mpirad.provenance import read_record

    root = root or project_root()
    context = read_context()
    toc = Path(toc) if toc else book_dir() / "_toc.yml"
    if not toc.is_file():
        return [], [PageProblem(str(toc), "missing: run `mpirad book-inputs`")]
    built = read_pages()
    current, problems = [], []
    split_runs = _split_run_records(context)
    for docname in toc_docnames(toc):
        if docname in split_runs:
            path, wanted = split_runs[docname]
            record = read_record(path)
            if record is None or record.digest() != wanted:
                problems.append(
                    PageProblem(docname, "the split run is not the one book-inputs made")
                )
            else:
                current.append(docname)
            continue
        source = next(
            (
                root / f"{docname}{s}"
                for s in NOTEBOOK_SUFFIXES
                if (root / f"{docname}{s}").is_file()
            ),
            None,
        )
        if source is None or not is_executed_page(source, root):
            continue
        why = out_of_date(docname, built.get(docname), page_digest(docname, root, context))
        if why:
            problems.append(PageProblem(docname, f"not current: {why}"))
        else:
            current.append(docname)
    return current, problems


def _split_run_records(context: BookContext) -> dict[str, tuple[Path, str]]:
    """docname -> (executed split notebook, the record digest book-inputs made current)."""
    from mpirad.manifest import project_root
    from mpirad.pipeline.book import split_notebooks

    if not context.dataset_a:
        return {}
    root = project_root()
    n_splits = context.profile_overrides.get("n_splits")
    runs = {}
    for split, unit, path in split_notebooks(context.dataset_a, context.profile, n_splits):
        key = f"study_a/{unit}/split_{split}"
        if key in context.inputs:
            runs[path.relative_to(root).with_suffix("").as_posix()] = (path, context.inputs[key])
    return runs


__all__ = [
    "EVERYTHING",
    "PAGE_READS",
    "PageProblem",
    "is_executed_page",
    "page_digest",
    "page_inputs",
    "pages_path",
    "setup",
    "toc_docnames",
    "verify_pages",
]
