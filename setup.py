"""Build hook for the optional mypyc-compiled build; everything else is in pyproject.toml.

``pip install .`` and ``pip install -e .`` stay pure Python. With ``FETCHALL_MYPYC=1`` the hot
modules named in ``fetchall/build.py`` (`COMPILED`) are compiled with mypyc, which needs mypy
(the ``dev`` extra) and a C compiler:

    FETCHALL_MYPYC=1 .venv/bin/python setup.py build_ext --inplace   # what `make compiled` runs

At run time ``FETCHALL_PURE=1`` serves the pure modules anyway (fetchall/build.py).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext


def build_constant(name: str) -> Any:
    """A constant of fetchall/build.py (`COMPILED`, `GROUP`), read without importing it."""
    tree = ast.parse(Path(__file__).with_name("fetchall").joinpath("build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(getattr(t, "id", "") == name for t in targets):
            return ast.literal_eval(value)
    raise SystemExit(f"setup.py: fetchall/build.py has no {name}")


def extensions() -> list[Any]:
    """mypyc's extension modules when ``FETCHALL_MYPYC=1``, else none (a pure build)."""
    if os.environ.get("FETCHALL_MYPYC") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit(
            "FETCHALL_MYPYC=1 needs mypy in the build environment: install the `dev` extra "
            "and build with --no-build-isolation (or run `make compiled`)"
        ) from None
    sources = [str(Path(*name.split("."))) + ".py" for name in build_constant("COMPILED")]
    return list(mypycify(sources, opt_level="3", group_name=build_constant("GROUP")))


class BuildExt(build_ext):
    """``build_ext`` that marks an in-place build as current: setuptools relinks nothing when
    mypyc's C is unchanged, and fetchall/build.py compares the sources' times with the build's."""

    def run(self) -> None:
        super().run()
        if self.inplace:
            for extension in self.extensions:
                os.utime(self.get_ext_fullpath(extension.name))


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
