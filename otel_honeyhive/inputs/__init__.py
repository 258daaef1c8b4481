"""Where data comes in: the SDK span exporter, OTLP over HTTP and gRPC, the HoneyHive-compatible API, and files.
Each hands what it receives to a `core.protocols.Sink` (the pipeline) and turns the result into its protocol's
answer; none builds an assembler, a mapper or a delivery."""
