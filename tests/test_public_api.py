"""The names `otel_honeyhive` exports resolve (they are loaded lazily, so a moved module would otherwise only
fail when a user first touches the name)."""

from __future__ import annotations

import importlib

import pytest

import otel_honeyhive


@pytest.mark.parametrize("name", otel_honeyhive.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(otel_honeyhive, name) is not None


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        otel_honeyhive.no_such_name  # noqa: B018


def test_the_traces_exporter_entry_point_names_the_exporter() -> None:
    from importlib.metadata import entry_points

    (point,) = entry_points(group="opentelemetry_traces_exporter", name="honeyhive")
    assert issubclass(point.load(), importlib.import_module("otel_honeyhive").HoneyHiveSpanExporter)


def test_the_logs_exporter_entry_point_names_the_log_exporter() -> None:
    from importlib.metadata import entry_points

    (point,) = entry_points(group="opentelemetry_logs_exporter", name="honeyhive")
    assert issubclass(point.load(), importlib.import_module("otel_honeyhive").HoneyHiveLogExporter)
