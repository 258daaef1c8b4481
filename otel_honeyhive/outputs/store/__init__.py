"""The local event store: SQLite for the rows, segment files for the bodies (`sqlite.py` says why)."""

from otel_honeyhive.outputs.store.bodies import CorruptBodyError
from otel_honeyhive.outputs.store.schema import SCHEMA_VERSION
from otel_honeyhive.outputs.store.sqlite import Pruned, SessionSummary, SQLiteStore

__all__ = ["SCHEMA_VERSION", "CorruptBodyError", "Pruned", "SQLiteStore", "SessionSummary"]
