"""The build backend: setuptools, with the hot path compiled by mypyc when a wheel is built.

Wheels (and so `pip install .` or an install from the sdist) get the span → event → JSON path compiled to C
extensions by mypyc, as black and mypy ship theirs: the same typed source, about twice as fast. Editable
installs stay pure Python, so an edited module takes effect at once (an in-tree `.so` would shadow it), and
`OTEL_HONEYHIVE_PURE_PYTHON=1` builds a pure wheel. Where no C compiler is found, the build falls back to the
pure package with a warning (`setup.py`), so installing never needs one.

The extra build requirements are asked for only when compiling: mypyc, and the packages whose types the compiled
modules use, so the build type-checks them exactly as the project's `mypy --strict` does.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401 (the rest of PEP 517/660, as setuptools has it)
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

COMPILE_ENV = "OTEL_HONEYHIVE_COMPILE"
"""Set by this backend for `setup.py` while a wheel is built; not meant to be set by hand."""
PURE_ENV = "OTEL_HONEYHIVE_PURE_PYTHON"

COMPILE_REQUIRES = [
    "mypy>=1.13",
    "opentelemetry-api>=1.30",
    "opentelemetry-sdk>=1.30",
    "opentelemetry-proto>=1.30",
    "orjson>=3.9",
    "types-protobuf",
    "types-requests",
]


def _compiling() -> bool:
    return os.environ.get(PURE_ENV, "") in ("", "0")


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    required: list[str] = _setuptools.get_requires_for_build_wheel(config_settings)
    return required + COMPILE_REQUIRES if _compiling() else required


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    previous = os.environ.get(COMPILE_ENV)
    os.environ[COMPILE_ENV] = "1" if _compiling() else "0"
    try:
        name: str = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
        return name
    finally:
        if previous is None:
            os.environ.pop(COMPILE_ENV, None)
        else:
            os.environ[COMPILE_ENV] = previous


def build_editable(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    """setuptools' editable build, without its notice that a folder named like the package in the working
    directory may take precedence on import: in this flat layout that folder is the package itself, and the
    notice was a dozen lines of noise in every `scripts/test` and `scripts/demo` run."""
    from setuptools.warnings import InformationOnly

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=InformationOnly, message="Editable installation")
        name: str = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
        return name
