"""The compiled hot path: mypyc extension modules for wheels (see `_build/backend.py` for when and why).

Everything else (configuration, the server, the CLI, the shipping layer) stays pure Python: it is not where the
time goes, and compiled classes cannot be monkeypatched or subclassed from Python. A wheel is all compiled or
all pure: if mypyc or the C compiler fails, the extensions are dropped with a warning and the pure package is
built, so installing never depends on a compiler.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

HOT_PATH = [
    "otel_honeyhive/core/spans.py",
    "otel_honeyhive/core/jsonable.py",
    "otel_honeyhive/core/encoded.py",
    "otel_honeyhive/pipeline/assembly.py",
    "otel_honeyhive/pipeline/records.py",
    "otel_honeyhive/shipping/span_codec.py",
    "otel_honeyhive/mapper/identity.py",
    "otel_honeyhive/mapper/values.py",
    "otel_honeyhive/mapper/messages.py",
    "otel_honeyhive/mapper/markers.py",
    "otel_honeyhive/mapper/resolve.py",
    "otel_honeyhive/mapper/rules.py",
    "otel_honeyhive/mapper/ruleset.py",
    "otel_honeyhive/mapper/trace.py",
    "otel_honeyhive/mapper/conventions/genai.py",
    "otel_honeyhive/mapper/conventions/google_genai.py",
    "otel_honeyhive/mapper/conventions/honeyhive.py",
    "otel_honeyhive/mapper/conventions/openinference.py",
    "otel_honeyhive/mapper/conventions/openllmetry.py",
    "otel_honeyhive/mapper/conventions/span_events.py",
    "otel_honeyhive/outputs/honeyhive/payload.py",
    "otel_honeyhive/outputs/store/rows.py",
    "otel_honeyhive/outputs/store/summaries.py",
    "otel_honeyhive/inputs/otlp/decoded.py",
    "otel_honeyhive/inputs/otlp/wire.py",
    "otel_honeyhive/inputs/otlp/decode_proto.py",
    "otel_honeyhive/inputs/otlp/decode_json.py",
]


def _warn(message: str) -> None:
    """Say it on stderr and as a warning: pip shows a build's output only with `-v` (or when it fails), so the
    README points at `otel-honeyhive --version` to tell which build is installed."""
    text = (f"otel-honeyhive: {message}; building the pure-Python package (it works the same, only slower; "
            "`otel-honeyhive --version` says which build is installed)")
    print(text, file=sys.stderr)
    warnings.warn(text, stacklevel=2)


def extensions() -> list[Any]:
    if os.environ.get("OTEL_HONEYHIVE_COMPILE") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    here = Path(__file__).resolve().parent
    try:
        return list(mypycify(
            ["--config-file", str(here / "pyproject.toml"), *HOT_PATH],
            group_name="otel_honeyhive",  # the shared native library: otel_honeyhive__mypyc
            opt_level="3",
            debug_level="0",
            strip_asserts=False,
        ))
    except (Exception, SystemExit) as exc:  # mypy refused the modules: never a reason not to install
        _warn(f"mypyc failed ({exc!r})")
        return []


class AllOrNothingBuildExt(build_ext):
    """Builds every extension or none: compiled modules share one native library, so a partial build would
    leave modules that cannot import."""

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, PlatformError, OSError) as exc:
            _warn(f"the C build failed ({exc})")
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)
            self.extensions = []
            self.distribution.ext_modules = []
            # bdist_wheel chose a platform tag (cp311-cp311-linux_x86_64) when it saw extensions, before this
            # ran; the wheel is pure Python now, so it is tagged and laid out as such (py3-none-any, purelib).
            bdist_wheel = self.distribution.get_command_obj("bdist_wheel", create=False)
            if bdist_wheel is not None:
                bdist_wheel.root_is_pure = True  # type: ignore[attr-defined]


setup(ext_modules=extensions(), cmdclass={"build_ext": AllOrNothingBuildExt})
