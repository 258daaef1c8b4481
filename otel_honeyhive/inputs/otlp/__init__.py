"""OTLP as an input: decoders that turn OTLP/protobuf and OTLP/JSON trace requests into `SpanView`s.

The HTTP and gRPC receivers call these; keeping decoding separate from transport lets both share one
well-tested path and lets tests check it against the SDK's own conversion."""
