"""`python -m otel_honeyhive.cli`: the same as the `otel-honeyhive` console script."""

from __future__ import annotations

import sys

from otel_honeyhive.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
