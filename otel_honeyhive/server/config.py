"""What `otel-honeyhive serve` runs with, resolved once from flags and environment variables.

Kept free of heavy imports (no Starlette, no uvicorn) so the CLI can build and check it instantly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from otel_honeyhive.config import HoneyHiveSettings, Secret, spool_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
DEFAULT_DB = Path("otel-honeyhive.db")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
"""The OTLP specification's recommended request limit, applied after decompression."""
AUTH_TOKEN_ENV = "OTEL_HONEYHIVE_AUTH_TOKEN"


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    http_port: int = DEFAULT_HTTP_PORT
    """0: no HTTP listener."""
    grpc_port: int = DEFAULT_GRPC_PORT
    """0: no gRPC listener."""
    db_path: Path = DEFAULT_DB
    spool_dir: Path | None = None
    auth_token: Secret | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    event_source: str = "unknown"
    """`source` for events that arrive without one."""
    project: str | None = None
    """`project` for events that arrive without one."""
    honeyhive: HoneyHiveSettings | None = None
    """Where to forward events; None (no API key) keeps them in the local store at `db_path`."""
    hold_timeout: float = 30.0
    """Seconds spans are held waiting for their trace's root before being shipped in parts."""
    max_held_spans: int = 100_000
    spool_max_bytes: int = 1024 * 1024 * 1024
    """Cap of the delivery spool and of the held-span journal (each); past it requests get 503 + Retry-After."""

    def __repr__(self) -> str:
        token = "set" if self.auth_token else "unset"
        return (
            f"ServerConfig(host={self.host!r}, http_port={self.http_port}, grpc_port={self.grpc_port}, "
            f"db_path={str(self.db_path)!r}, auth_token={token}, honeyhive={self.honeyhive!r})"
        )

    @classmethod
    def resolve(
        cls,
        *,
        host: str = DEFAULT_HOST,
        http_port: int = DEFAULT_HTTP_PORT,
        grpc_port: int = DEFAULT_GRPC_PORT,
        db_path: str | os.PathLike[str] = DEFAULT_DB,
        spool_dir: str | os.PathLike[str] | None = None,
        auth_token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        api_key: str | None = None,
        server_url: str | None = None,
        project: str | None = None,
        source: str | None = None,
        hold_timeout: float = 30.0,
        max_held_spans: int = 100_000,
        spool_max_bytes: int = 1024 * 1024 * 1024,
        environ: Mapping[str, str] | None = None,
    ) -> ServerConfig:
        """Flags win over environment variables: `HH_API_KEY`, `HH_API_URL`, `HH_PROJECT`, `HH_SOURCE`,
        `HH_SPOOL_DIR`, `OTEL_HONEYHIVE_AUTH_TOKEN`. ValueError names the option at fault."""
        env = os.environ if environ is None else environ
        for name, port in (("--http-port", http_port), ("--grpc-port", grpc_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be between 0 (off) and 65535, got {port}")
        if max_body_bytes < 1:
            raise ValueError(f"--max-body-bytes must be at least 1, got {max_body_bytes}")
        if not hold_timeout >= 0:
            raise ValueError(f"--hold-timeout must be >= 0 seconds, got {hold_timeout}")
        if max_held_spans < 1:
            raise ValueError(f"--max-held-spans must be at least 1, got {max_held_spans}")
        if spool_max_bytes < 1024:
            raise ValueError(f"--spool-max-bytes must be at least 1024, got {spool_max_bytes}")
        settings = HoneyHiveSettings.resolve(
            environ=env, source_label="otel-honeyhive serve",
            api_key=api_key, server_url=server_url, project=project, source=source,
        )
        token = auth_token if auth_token is not None else env.get(AUTH_TOKEN_ENV)
        return cls(
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            db_path=Path(db_path),
            spool_dir=spool_path(spool_dir, env),
            auth_token=Secret(token) if token else None,
            max_body_bytes=max_body_bytes,
            event_source=source or env.get("HH_SOURCE") or "unknown",
            project=settings.project,
            honeyhive=settings if settings.api_key else None,
            hold_timeout=hold_timeout,
            max_held_spans=max_held_spans,
            spool_max_bytes=spool_max_bytes,
        )
