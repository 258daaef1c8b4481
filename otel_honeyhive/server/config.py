"""What `otel-honeyhive serve` runs with, resolved once from flags and environment variables.

Kept free of heavy imports (no Starlette, no uvicorn) so the CLI can build and check it instantly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from otel_honeyhive.core.addresses import ip_address
from otel_honeyhive.core.environment import (
    HH_ALLOWED_HOSTS,
    HH_DROP_SCOPES,
    HH_DROP_SPANS,
    HH_REDACT,
    HH_SESSIONS,
    HH_SOURCE,
    HH_SPAN_FILTER,
    MAX_SECONDS,
    OTEL_HONEYHIVE_AUTH_TOKEN,
    spool_path,
)
from otel_honeyhive.core.events import DEFAULT_SOURCE
from otel_honeyhive.core.redactors import Redactor, parse_names, redactors_named, regex_redactor
from otel_honeyhive.core.routing import RoutingTable
from otel_honeyhive.core.secrets import Secret, shown_url
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.spool import DEFAULT_MAX_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
DEFAULT_DB = Path("otel-honeyhive.db")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
"""The OTLP specification's recommended request limit, applied after decompression."""
MAX_BODY_BYTES_LIMIT = 2**31 - 1
"""The largest `--max-body-bytes`: it is also gRPC's receive limit, a 32-bit number in grpcio (past it, grpcio
fails to start the server with an OverflowError)."""
DEFAULT_HOLD_SECONDS = 30.0
DEFAULT_SPOOL_MAX_BYTES = DEFAULT_MAX_BYTES
DEFAULT_MAX_HELD_SPANS = 100_000
"""The server holds more than the exporter (20,000): it assembles the traces of many apps at once."""
AUTH_TOKEN_ENV = OTEL_HONEYHIVE_AUTH_TOKEN
OTLP_PROTOCOLS = ("http/protobuf", "grpc")
"""Mirrors `otel_honeyhive.outputs.otlp.PROTOCOLS` (not imported: it would load protobuf and the SDK)."""
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_GRPC_TARGET = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@]+):\d{1,5}$")
"""A bare gRPC target, `host:port` or `[v6]:port` (the SDK's OTLP/gRPC exporter accepts these too)."""
ANY_HOST = "*"
"""The allowed host that turns the `Host` check off (for a proxy in front that checks `Host` itself)."""
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


HONEYHIVE_FLAGS = {"api_key": "--api-key", "server_url": "--server-url", "project": "--project", "source": "--source",
                   "timeout": "--timeout", "api_version": "--api-version"}
"""The commands' flags for `HoneyHiveSettings`' keywords, so that messages name what the user typed."""


@dataclass(frozen=True)
class OtlpSettings:
    """Where `serve` forwards events as OTLP spans (the reverse direction). Headers may carry credentials:
    the repr shows how many there are, never their values."""

    endpoint: str
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    headers: Mapping[str, str] = field(default_factory=dict)
    compression: Literal["gzip"] | None = None
    """"gzip" or None."""
    timeout: float = 10.0
    """Seconds one delivery (all attempts and backoff waits) may take: the retry deadline."""

    def __repr__(self) -> str:
        return (
            f"OtlpSettings(endpoint={shown_url(self.endpoint)!r}, protocol={self.protocol!r}, "
            f"headers={len(self.headers)}, compression={self.compression!r})"
        )


def _no_password() -> bytes:
    """Given to `load_cert_chain` so an encrypted key fails instead of prompting on the terminal."""
    return b""


def check_tls_files(
    cert: str | os.PathLike[str] | None, key: str | os.PathLike[str] | None
) -> tuple[Path, Path] | None:
    """The certificate (chain) and private key files for TLS on both ports, checked now: both given, readable,
    PEM, unencrypted, and a matching pair. ValueError names the flag and the file at fault (never the key's
    content)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together: give both (a PEM certificate chain and its "
                         "private key)")
    paths = Path(cert), Path(key)
    texts: list[bytes] = []
    for flag, path in zip(("--tls-cert", "--tls-key"), paths, strict=True):
        if not path.exists():
            raise ValueError(f"{flag}: no such file: {path}")
        if not path.is_file():
            raise ValueError(f"{flag}: not a file: {path}")
        try:
            texts.append(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    cert_text, key_text = texts
    if b"-----BEGIN CERTIFICATE-----" not in cert_text:
        raise ValueError(f"--tls-cert: {paths[0]} is not a PEM certificate (no BEGIN CERTIFICATE block)")
    if not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", key_text):
        raise ValueError(f"--tls-key: {paths[1]} is not a PEM private key (no BEGIN PRIVATE KEY block)")
    if b"ENCRYPTED" in key_text:
        raise ValueError(f"--tls-key: {paths[1]} is encrypted; passphrase-protected keys are not supported "
                         "(decrypt it, e.g. `openssl pkey -in KEY -out KEY.plain`)")
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(paths[0], paths[1], password=_no_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(f"--tls-key: {paths[1]} is not the private key of the certificate {paths[0]}") from None
        raise ValueError(f"--tls-cert/--tls-key: cannot load {paths[0]} and {paths[1]}: "
                         f"{exc.reason or exc}") from None
    return paths


def check_allowed_host(item: str, option: str) -> str:
    """One allowed host as given (a name, an address, `.example.org` for it and every name under it, or `*`),
    normalised (lowercase, no final dot, an address in its normal form); a ValueError naming `option` else."""
    text = item.strip().lower()
    if text == ANY_HOST:
        return text
    literal = ip_address(text)
    if literal is not None:
        return str(literal)
    name = text.rstrip(".")
    if not _HOST_NAME.match(name[1:] if name.startswith(".") else name):
        hint = f"; .{text[2:]} allows a name and every name under it" if text.startswith("*.") else ""
        raise ValueError(f"{option}: {item!r} is not a host name: give the name alone, without a scheme, port or "
                         f"path (hub.example.org), .example.org for it and every name under it, or * for any{hint}")
    return name


def resolve_allowed_hosts(given: Sequence[str] | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """`--allowed-host` (repeatable, each may be a comma-separated list), else `HH_ALLOWED_HOSTS`
    (comma-separated), each checked now."""
    if given:
        items, option = [part for item in given for part in item.split(",")], "--allowed-host"
    else:
        items, option = (env.get(HH_ALLOWED_HOSTS) or "").split(","), f"environment variable {HH_ALLOWED_HOSTS}"
    return tuple(dict.fromkeys(check_allowed_host(item, option) for item in items if item.strip()))


def parse_headers(items: Sequence[str], option: str = "--otlp-header") -> dict[str, str]:
    """`KEY=VALUE` items as a dict. A malformed item is a ValueError that never repeats the value (it may be
    a token)."""
    headers: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{option} must be KEY=VALUE (an item has no '=')")
        if not _HEADER_NAME.match(key):
            raise ValueError(f"{option} must be KEY=VALUE with KEY a header name, got key {key!r}")
        headers[key] = value.strip()
    return headers


def _otlp_settings(
    endpoint: str | None, protocol: str | None, headers: Sequence[str] | Mapping[str, str] | None,
    compression: str | None,
) -> OtlpSettings | None:
    if endpoint is None:
        for option, given in (("--otlp-protocol", protocol), ("--otlp-header", headers),
                              ("--otlp-compression", compression)):
            if given:
                raise ValueError(f"{option} needs --otlp-endpoint")
        return None
    endpoint = endpoint.strip().rstrip("/")
    chosen = protocol or "http/protobuf"
    if chosen not in OTLP_PROTOCOLS:
        raise ValueError(f"--otlp-protocol must be one of {', '.join(OTLP_PROTOCOLS)}, got {chosen!r}")
    if chosen == "http/protobuf" and not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"--otlp-endpoint must start with http:// or https://, got {shown_url(endpoint)!r}")
    if chosen == "grpc" and not (
        endpoint.startswith(("http://", "https://")) or _GRPC_TARGET.match(endpoint)
    ):
        raise ValueError(
            f"--otlp-endpoint for gRPC must be host:port or http(s)://host:port, got {shown_url(endpoint)!r}"
        )
    parsed = dict(headers) if isinstance(headers, Mapping) else parse_headers(headers or ())
    if isinstance(compression, str):
        compression = compression.strip().lower() or None
        if compression == "none":
            compression = None
    if compression not in (None, "gzip"):
        raise ValueError(f"--otlp-compression must be 'gzip' or none, got {compression!r}")
    return OtlpSettings(
        endpoint=endpoint,
        protocol="grpc" if chosen == "grpc" else "http/protobuf",
        headers=parsed,
        compression="gzip" if compression == "gzip" else None,
    )


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
    event_source: str = DEFAULT_SOURCE
    """`source` for events that arrive without one."""
    project: str | None = None
    """`project` for events that arrive without one."""
    honeyhive: HoneyHiveSettings | None = None
    """Where to forward events; None (no API key) keeps them in the local store at `db_path`."""
    otlp: OtlpSettings | None = None
    """Forward events as OTLP spans instead (never together with `honeyhive`: one output per server)."""
    hold_timeout: float = DEFAULT_HOLD_SECONDS
    """Seconds spans are held waiting for their trace's root before being shipped in parts."""
    max_held_spans: int = DEFAULT_MAX_HELD_SPANS
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    """Cap of the delivery spool and of the held-span journal (each); past it requests get 503 + Retry-After."""
    tls_cert: Path | None = None
    """PEM certificate chain: both ports serve TLS (HTTPS, gRPC over TLS) when set, together with `tls_key`."""
    tls_key: Path | None = None
    redactors: tuple[Redactor, ...] = ()
    """What masks every string value as it enters (`--redact`, `--redact-regex`, `HH_REDACT`; docs/privacy.md)."""
    span_filter: tuple[str, ...] = ()
    """Span filter presets (`--span-filter genai`, `HH_SPAN_FILTER`): spans they do not recognise are dropped."""
    drop_scopes: tuple[str, ...] = ()
    """Instrumentation scope names or globs whose spans are dropped (`--drop-scope`, `HH_DROP_SCOPES`)."""
    drop_spans: tuple[str, ...] = ()
    """Span names or globs whose spans are dropped (`--drop-span`, `HH_DROP_SPANS`)."""
    routing: RoutingTable | None = None
    """Each trace's project and key from a routing table (`[routing]` of `--config`; docs/routing.md)."""
    sessions: str = "trace"
    """What a session is (`--sessions`, `HH_SESSIONS`): `trace` or `conversation` (mapper/conversations.py)."""
    retention: float | None = None
    """Seconds the local store keeps a session after its last event (`--retention`); None keeps everything."""
    allowed_hosts: tuple[str, ...] = ()
    """`Host` names served besides loopback ones (`--allowed-host`, `HH_ALLOWED_HOSTS`; `server/hosts.py`)."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    def __repr__(self) -> str:
        token = "set" if self.auth_token else "unset"
        return (
            f"ServerConfig(host={self.host!r}, http_port={self.http_port}, grpc_port={self.grpc_port}, "
            f"db_path={str(self.db_path)!r}, auth_token={token}, honeyhive={self.honeyhive!r}, "
            f"otlp={self.otlp!r}, tls={self.tls})"
        )

    @property
    def remote(self) -> bool:
        """True when events leave this machine (HoneyHive or OTLP): the spool then sits in front of the output,
        and the output's refusals are the upstream's (502), not the client's."""
        return self.honeyhive is not None or self.otlp is not None

    @property
    def delivery_timeout(self) -> float:
        """The retry deadline of one delivery to the configured output."""
        if self.honeyhive is not None:
            return self.honeyhive.timeout
        if self.otlp is not None:
            return self.otlp.timeout
        return 10.0

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
        api_version: str | None = None,
        hold_timeout: float = DEFAULT_HOLD_SECONDS,
        max_held_spans: int = DEFAULT_MAX_HELD_SPANS,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        otlp_endpoint: str | None = None,
        otlp_protocol: str | None = None,
        otlp_headers: Sequence[str] | Mapping[str, str] | None = None,
        otlp_compression: str | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        redact: Sequence[str] | None = None,
        redact_regex: Sequence[str] | None = None,
        span_filter: Sequence[str] | None = None,
        drop_scopes: Sequence[str] | None = None,
        drop_spans: Sequence[str] | None = None,
        routing: Mapping[str, object] | None = None,
        sessions: str | None = None,
        retention: float | None = None,
        allowed_hosts: Sequence[str] | None = None,
        config_file: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServerConfig:
        """Flags win over environment variables: `HH_API_KEY`, `HH_API_URL`, `HH_PROJECT`, `HH_SOURCE`,
        `HH_API_VERSION`, `HH_SPOOL_DIR`, `HH_ALLOWED_HOSTS`, `OTEL_HONEYHIVE_AUTH_TOKEN`. ValueError names the
        option at fault.

        `otlp_headers`: `KEY=VALUE` strings (the repeated `--otlp-header` flag) or a mapping. An OTLP endpoint
        together with an API key (flag or `HH_API_KEY`) is refused: a server has one output, and silently
        ignoring either would send events somewhere the user did not expect.

        `routing`: the `[routing]` table of `config_file` (docs/routing.md), checked here; it forwards to HoneyHive
        with each project's key, so it is refused together with an OTLP endpoint."""
        env = os.environ if environ is None else environ
        for name, port in (("--http-port", http_port), ("--grpc-port", grpc_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be between 0 (off) and 65535, got {port}")
        if not 1 <= max_body_bytes <= MAX_BODY_BYTES_LIMIT:
            raise ValueError(f"--max-body-bytes must be from 1 to {MAX_BODY_BYTES_LIMIT} bytes (just under 2 GiB: "
                             f"it is also gRPC's message limit, a 32-bit number), got {max_body_bytes}")
        if not 0 <= hold_timeout <= MAX_SECONDS:  # NaN fails too
            raise ValueError(f"--hold-timeout must be from 0 to {MAX_SECONDS:g} seconds, got {hold_timeout}")
        if max_held_spans < 1:
            raise ValueError(f"--max-held-spans must be at least 1, got {max_held_spans}")
        if spool_max_bytes < 1024:
            raise ValueError(f"--spool-max-bytes must be at least 1024, got {spool_max_bytes}")
        settings = HoneyHiveSettings.resolve(
            environ=env, flags=HONEYHIVE_FLAGS, api_key=api_key, server_url=server_url, project=project, source=source,
            api_version=api_version,
        )
        otlp = _otlp_settings(otlp_endpoint, otlp_protocol, otlp_headers, otlp_compression)
        if otlp is not None and settings.api_key:
            given = "--api-key" if api_key else "an API key from $HH_API_KEY"
            raise ValueError(
                f"--otlp-endpoint cannot be combined with {given}: a server has one output (run one "
                "`otel-honeyhive serve` per destination)"
            )
        table = None
        if routing is not None:
            table = RoutingTable.parse(routing, where=config_file or "routing", environ=env,
                                       fallback_key=settings.api_key)
            if otlp is not None:
                raise ValueError(f"{config_file or 'routing'}: routing: cannot be combined with --otlp-endpoint: "
                                 "routing chooses HoneyHive projects and their keys")
        token = _auth_token(auth_token, env)
        tls = check_tls_files(tls_cert, tls_key)
        redactors = resolve_redactors(redact, redact_regex, env)
        presets, scopes, span_names = _span_filter(span_filter, drop_scopes, drop_spans, env)
        sessions_mode = resolve_sessions(sessions, env)
        hosts = resolve_allowed_hosts(allowed_hosts, env)
        if retention is not None:
            if not retention > 0:
                raise ValueError(f"--retention must be longer than 0 seconds, got {retention}")
            if settings.api_key or otlp is not None or table is not None:
                raise ValueError("--retention applies to the local store, and this server forwards its events "
                                 f"({'to an OTLP endpoint' if otlp is not None else 'to HoneyHive'}); leave it out")
        return cls(
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            db_path=Path(db_path),
            spool_dir=spool_path(spool_dir, env),
            auth_token=Secret(token) if token else None,
            max_body_bytes=max_body_bytes,
            event_source=source or env.get(HH_SOURCE) or DEFAULT_SOURCE,
            project=settings.project or (table.default if table is not None else None),
            honeyhive=settings if settings.api_key or table is not None else None,
            otlp=otlp,
            hold_timeout=hold_timeout,
            max_held_spans=max_held_spans,
            spool_max_bytes=spool_max_bytes,
            tls_cert=tls[0] if tls else None,
            tls_key=tls[1] if tls else None,
            redactors=redactors,
            span_filter=presets,
            drop_scopes=scopes,
            drop_spans=span_names,
            routing=table,
            sessions=sessions_mode,
            retention=retention,
            allowed_hosts=hosts,
        )


def _auth_token(given: str | None, env: Mapping[str, str]) -> str | None:
    """`--auth-token`, else `OTEL_HONEYHIVE_AUTH_TOKEN` (empty: unset), without surrounding whitespace: a token
    read from a file (a Kubernetes Secret made with `--from-file`) often ends in a newline, which no client can
    send in a header, so every request would be refused. An empty flag is refused: `--auth-token "$TOKEN"` with
    `TOKEN` unset would otherwise serve everyone without a token."""
    if given is not None:
        if not given.strip():
            raise ValueError("--auth-token is empty (an unset variable in --auth-token \"$TOKEN\"?): give the "
                             f"token, or leave the option out (then ${AUTH_TOKEN_ENV}, if set, is the token)")
        return given.strip()
    return (env.get(AUTH_TOKEN_ENV) or "").strip() or None


def resolve_sessions(given: str | None, env: Mapping[str, str]) -> str:
    """`--sessions`, else `HH_SESSIONS`, else `trace`; an unknown mode is one line naming the valid ones."""
    from otel_honeyhive.mapper.conversations import check_sessions_mode

    chosen = given or env.get(HH_SESSIONS) or "trace"
    try:
        return check_sessions_mode(chosen)
    except ValueError as exc:
        raise ValueError(f"{'--sessions' if given else f'environment variable {HH_SESSIONS}'}: {exc}") from None


def _span_filter(presets: Sequence[str] | None, scopes: Sequence[str] | None, names: Sequence[str] | None,
                 env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """`--span-filter`, `--drop-scope`, `--drop-span` (each repeatable or comma-separated), else `HH_SPAN_FILTER`,
    `HH_DROP_SCOPES`, `HH_DROP_SPANS`. An unknown preset is one line listing the valid ones."""
    def items(given: Sequence[str] | None, variable: str) -> tuple[tuple[str, ...], bool]:
        if given:
            return tuple(part.strip() for item in given for part in item.split(",") if part.strip()), False
        raw = env.get(variable) or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip()), True

    chosen, from_env = items(presets, HH_SPAN_FILTER)
    if chosen:
        from otel_honeyhive.mapper.filtering import check_presets

        chosen = check_presets(chosen, f"environment variable {HH_SPAN_FILTER}" if from_env else "--span-filter")
    return chosen, items(scopes, HH_DROP_SCOPES)[0], items(names, HH_DROP_SPANS)[0]


def resolve_redactors(names: Sequence[str] | None, patterns: Sequence[str] | None,
                      env: Mapping[str, str]) -> tuple[Redactor, ...]:
    """`--redact` names (each may be a comma-separated list; else `HH_REDACT`) and `--redact-regex` patterns,
    checked now: an unknown name or a bad pattern is a ValueError naming the flag."""
    if names:
        given, flag = [name for item in names for name in parse_names(item)], "--redact"
    else:
        given, flag = list(parse_names(env.get(HH_REDACT) or "")), f"${HH_REDACT}"
    try:
        built_in = redactors_named(given)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
    custom: list[Redactor] = []
    for pattern in patterns or ():
        try:
            custom.append(regex_redactor(pattern))
        except ValueError as exc:
            raise ValueError(f"--redact-regex: {exc}") from None
    return (*built_in, *custom)
