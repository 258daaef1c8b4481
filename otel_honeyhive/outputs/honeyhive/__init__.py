from otel_honeyhive.outputs.honeyhive.client import USER_AGENT, HoneyHiveOutput

__all__ = ["USER_AGENT", "HoneyHiveOutput"]
