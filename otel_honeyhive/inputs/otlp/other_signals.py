"""OTLP metrics sent to the bridge: acknowledged, not kept, and said so in `partial_success`. (Logs are kept:
`logs.py` decodes them for the pipeline, which joins GenAI log records to their spans' events.)

An app run under `opentelemetry-instrument` exports its metrics to the same endpoint as its traces unless
told otherwise. Answered with an unknown route (HTTP 404, gRPC UNIMPLEMENTED), its exporters would log an error
at every interval; the OTLP answer to data a receiver drops on purpose is a success whose `partial_success`
counts what was not kept and says why (https://opentelemetry.io/docs/specs/otlp/#partial-success). That is the
answer here, for both transports; the README says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError


def _data_points(request: Any) -> int:
    total = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


@dataclass(frozen=True)
class Signal:
    """An OTLP signal the bridge takes and does not keep."""

    name: str
    """As the README and messages say it: "metrics"."""
    path: str
    """The OTLP/HTTP route."""
    service: str
    """The gRPC service whose `Export` answers it."""
    request: type[Message]
    response: type[Message]
    count: Callable[[Any], int]
    unit: str
    """What `count` counts, as `partial_success` reports it."""
    rejected_field: str
    switch_off: str
    """The SDK's environment variable that stops an app sending this signal."""

    def decode(self, body: bytes, json: bool) -> Message:
        """The request; `OtlpDecodeError` saying why it is not one."""
        message = self.request()
        try:
            if json:
                json_format.Parse(body, message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise OtlpDecodeError(f"not an OTLP {self.name} request: {exc}") from None
        return message

    def not_kept(self, request: Message) -> Message:
        """The answer: success, with every item counted as rejected and the reason."""
        response = self.response()
        count = self.count(request)
        if count:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.rejected_field, count)
            partial.error_message = (
                f"otel-honeyhive keeps traces and logs, not {self.name}: {count} {self.unit} not kept "
                f"(set {self.switch_off}=none in the app to stop sending them)"
            )
        return response


METRICS = Signal(
    name="metrics",
    path="/v1/metrics",
    service="opentelemetry.proto.collector.metrics.v1.MetricsService",
    request=ExportMetricsServiceRequest,
    response=ExportMetricsServiceResponse,
    count=_data_points,
    unit="data points",
    rejected_field="rejected_data_points",
    switch_off="OTEL_METRICS_EXPORTER",
)
NOT_KEPT_SIGNALS = (METRICS,)

__all__ = ["METRICS", "NOT_KEPT_SIGNALS", "Signal"]
