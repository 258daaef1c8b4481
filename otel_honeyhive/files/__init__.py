"""Reading and writing event and OTLP/JSON files as streams, for `otel-honeyhive convert` and `replay`.

Kept free of imports here so `cli/main.py` can read `formats` without loading the mapper or the SDK.
"""
