"""Which build of fetchall runs: pure Python (the default) or with mypyc-compiled hot modules.

Strategy: `COMPILED` names the modules that ``setup.py`` compiles with mypyc when
``FETCHALL_MYPYC=1`` (``make compiled`` builds them in place, next to their sources). Importing
the package calls `choose`, which keeps the compiled modules unless ``FETCHALL_PURE=1`` asks for
the pure ones, or a source is newer than the build (an edit or a checkout after it): then a
meta-path finder serves every ``fetchall.*`` module from its source, and a stale build says so on
stderr. Compiled modules call each other directly in C, so it is all of them or none. The
check costs one ``stat`` in a pure install and about two per module in a compiled one.
"""

from __future__ import annotations

import _imp
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

COMPILED: tuple[str, ...] = (
    "fetchall.caches",
    "fetchall.http.decoders",
    "fetchall.http.fields",
    "fetchall.http.headers",
    "fetchall.http.parser",
    "fetchall.http.request",
    "fetchall.urls",
    "fetchall.policy",
    "fetchall.limits",
    "fetchall.output.paths",
    "fetchall.output.report",
    "fetchall.result",
    "fetchall.engines.exchange",
    "fetchall.engines.keepalive",
    "fetchall.engines.keepalive_conn",
    "fetchall.engines.pool",
    "fetchall.engines.aio",
    "fetchall.runner",
    "fetchall.saving",
    "fetchall.output.writer",
    "fetchall.output.bodyfile",
    "fetchall.frontier.stored",
    "fetchall.crawler.frontier",
    "fetchall.state.store",
    "fetchall.state.schema",
    "fetchall.politeness",
    "fetchall.urllists",
    "fetchall.interrupts",
)
"""The hot path of a fetch: the HTTP core, URLs, policy, limiter, paths, report rows, results,
the keepalive engine with its connections and exchange, the asyncio scheduling loop and the
connection pool, and what a URL passes through around the engine: the runner, the saver, the
output directory and its body files, the frontier with its store (and the crawl's frontier,
which subclasses it), the state rows, the politeness checks, the URL-list reader and the
runner's Ctrl-C hold (`fetchall.interrupts`: two attribute writes per URL). An
interpreted class cannot subclass a compiled one, so a compiled class's subclasses are compiled
with it (the exchanges, the frontiers). `fetchall.digests` and `fetchall.errors` stay pure:
their tests patch what compiled code would not look up."""

GROUP = "fetchall.compiled"
"""mypyc's group name for the build (``setup.py``): its shared library is the package's own
``fetchall.compiled__mypyc``, so it is found wherever ``fetchall`` is (an editable install puts
only the package on the path, not the directory beside it)."""

STALE_AFTER = 2.0
"""Seconds a source may be newer than the build's library before the build counts as stale
(installing a wheel writes both within moments, in any order)."""

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def source_path(module: str, package_dir: str = _PACKAGE_DIR) -> str:
    """The ``.py`` file of ``module`` (a name from `COMPILED`) under ``package_dir``."""
    return os.path.join(package_dir, *module.split(".")[1:]) + ".py"


def compiled_path(module: str, package_dir: str = _PACKAGE_DIR) -> str:
    """Where the compiled extension of ``module`` sits (beside its source)."""
    return source_path(module, package_dir)[:-3] + _imp.extension_suffixes()[0]


def library_path(package_dir: str = _PACKAGE_DIR) -> str:
    """mypyc's shared library of the build, in the package: it holds the compiled code of every
    module (each module's own extension is a small shim that setuptools does not rebuild when
    only the code changes, so its time says nothing)."""
    name = GROUP.rpartition(".")[2] + "__mypyc"
    return os.path.join(package_dir, name) + _imp.extension_suffixes()[0]


def stale_modules(package_dir: str = _PACKAGE_DIR) -> list[str] | None:
    """``None`` for a pure install (no compiled module); otherwise the compiled modules that are
    missing, or whose source is newer than the build's library (an empty list: current)."""
    if not os.path.exists(compiled_path(COMPILED[0], package_dir)):
        return None
    try:
        built = os.stat(library_path(package_dir)).st_mtime
    except OSError:
        return list(COMPILED)
    return [
        module
        for module in COMPILED
        if not os.path.exists(compiled_path(module, package_dir))
        or os.stat(source_path(module, package_dir)).st_mtime > built + STALE_AFTER
    ]


class SourceOnlyFinder:
    """A meta-path finder that loads ``fetchall.*`` modules from their ``.py`` files only."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: object = None
    ) -> ModuleSpec | None:
        """The source spec of a ``fetchall`` submodule; ``None`` for anything else."""
        if not name.startswith("fetchall.") or path is None:
            return None
        from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader

        for entry in path:
            spec = FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES)).find_spec(name)
            if spec is not None:
                return spec
        return None


def use_pure_modules() -> None:
    """Serve every ``fetchall`` submodule imported from now on from its source."""
    if not any(isinstance(finder, SourceOnlyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SourceOnlyFinder())


def choose() -> None:
    """Keep the compiled modules, unless ``FETCHALL_PURE=1`` or the build is stale."""
    if os.environ.get("FETCHALL_PURE") == "1":
        use_pure_modules()
        return
    stale = stale_modules()
    if stale:
        use_pure_modules()
        print(
            f"fetchall: compiled modules older than their sources ({', '.join(stale)}); "
            "running the pure-Python modules (rebuild with `make compiled`)",
            file=sys.stderr,
        )


def running_build() -> str:
    """``"mypyc"`` when the compiled modules are the ones imported, else ``"pure Python"``."""
    module = sys.modules.get(COMPILED[0])
    if module is None:
        from importlib import import_module

        module = import_module(COMPILED[0])
    return "pure Python" if (module.__file__ or "").endswith(".py") else "mypyc"
