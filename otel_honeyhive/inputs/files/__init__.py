"""Files as an input: event and OTLP/JSON files read as streams, for `otel-honeyhive convert` and `replay`."""
