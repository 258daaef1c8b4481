"""The one error the OTLP decoders raise, so transports can answer 400 (HTTP) / INVALID_ARGUMENT (gRPC)
without catching anything broader."""

from __future__ import annotations


class OtlpDecodeError(ValueError):
    """The request body is not a decodable OTLP trace request; the message says where and why."""
