"""The HoneyHive output: batch bodies over HTTP with the shared retry policy.

The route (docs/honeyhive-api.md): `api_version` "v1" posts to `/v1/events/batch`, "legacy" to the deprecated
`/events/batch`, and "auto" (the default) starts on v1. In "auto", a 404 or 405 on the route in use sends the
batch again at once by the other route, and the output keeps to the other route once it has accepted a body there
(an older deployment: legacy; one upgraded since: v1 again). When both routes refuse (a proxy or URL that is wrong
for both), nothing is switched: every later send asks v1 first, then legacy, so a route repaired without a restart
is found at the next try; only then is the refusal the configuration refusal the shipper keeps data for.

A legacy 500 "events partially created" (an `errors` list beside the ids created) is retried like a transient
fault: event ids are deterministic, so the events created the first time are not doubled; the errors are logged
with the event ids they name.

A batch larger than one request goes as several bodies, one after the other. When a later body fails, the batch
is sent again later (by the spool shipper, or a client's resend); the bodies HoneyHive already acknowledged in
that unfinished send are remembered by digest and skipped then, so a retry neither duplicates them nor starts
over: on a flaky link a large batch still makes progress body by body (without this, a link that fails one
request in three would never get a three-body batch through). Digests are taken only then, and a body is hashed
only when its length matches a remembered one, so a send that goes through costs no hashing at all.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import orjson
import requests

from otel_honeyhive._version import VERSION
from otel_honeyhive.core.encoded import EventShape
from otel_honeyhive.core.environment import HH_API_VERSION
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.secrets import shown_url
from otel_honeyhive.outputs.honeyhive.payload import (
    CUT_MIN,
    LEGACY,
    ROUTE_PATHS,
    TRUNCATED_KEY,
    V1,
    V1_SHAPE,
    Body,
    encode,
    fit,
    resplit,
    source_events,
)
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.outputs.http_session import pinned_session
from otel_honeyhive.shipping.retry import RetryPolicy, classify_status, parse_retry_after, run_with_retry

logger = logging.getLogger("otel_honeyhive.outputs.honeyhive")

USER_AGENT = f"otel-honeyhive/{VERSION}"
_CONNECT_TIMEOUT = 5.0
_TRUNCATED_MARK = f'"{TRUNCATED_KEY}":'.encode()
MIN_REQUEST_BYTES = 1024
"""The floor of a limit learned from 413s (as of `max_request_bytes`): below it nothing useful is sent."""
REMEMBERED_BODIES = 4096
"""How many bodies acknowledged in unfinished sends are remembered (16-byte digests) to be skipped when their
batch is sent again."""


SWITCH_STATUSES = frozenset({404, 405})
"""Answers to a batch route that, in "auto", send the batch again at once by the other route (the v1 route's mean
an older deployment)."""
MAX_LOGGED_ERRORS = 20
"""Errors of one partially created batch that are logged one by one (the rest are counted)."""
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _combined_refusal(refusals: list[SendResult]) -> SendResult:
    """One result for the events of a batch refused as too large, body by body: the others were delivered. When
    one refusal could not name its events, the batch as a whole is refused."""
    if len(refusals) == 1:
        return refusals[0]
    named = tuple(i for r in refusals for i in r.refused)
    whole = any(not r.refused for r in refusals)
    detail = f"{len(refusals)} bodies refused as too large (413); the first: {refusals[0].detail}"
    return SendResult(Outcome.REJECTED, detail, status=413, refused=() if whole else named)


def _hint(method: str, status: int, url: str = "") -> str:
    """What to fix when HoneyHive refuses for a reason that is the configuration's, not the data's: the refusal's
    detail ends up in the log line an operator reads (and in a dead letter's reason)."""
    if status in (401, 403):
        return "; check HH_API_KEY (--api-key): HoneyHive did not accept it"
    if status == 404 and method == "PUT":
        return "; the event is unknown to HoneyHive, or check HH_API_URL (--server-url)"
    if status in (404, 405) and url.endswith(ROUTE_PATHS[V1]):
        return (f"; check HH_API_URL (--server-url), or set {HH_API_VERSION}=auto or legacy (--api-version) for "
                "a HoneyHive that serves only the legacy /events/batch")
    if status in (404, 405):
        return "; check HH_API_URL (--server-url): no HoneyHive API answers this route there"
    return ""


def _route_refused(result: SendResult) -> bool:
    """A 404 or 405 to a batch: the route is not served there (in "auto", the other route is tried)."""
    return result.outcome is Outcome.REJECTED and result.status in SWITCH_STATUSES


def _failed_events(errors: list[object]) -> list[tuple[str, str]]:
    """(event ids, message) for each item of a partial answer's `errors`: an object's `event_id` (or ids) and
    message, or the UUIDs a plain message names ("?" when it names none)."""
    failed: list[tuple[str, str]] = []
    for item in errors:
        if isinstance(item, dict):
            ids = [str(v) for k in ("event_id", "id") if isinstance(v := item.get(k), str)]
            message = next((str(item[k]) for k in ("error", "message", "detail") if k in item), "")
            text = message or orjson.dumps(item).decode()
            ids = ids or _UUID.findall(text)
        else:
            text = str(item)
            ids = _UUID.findall(text)
        failed.append((", ".join(ids) or "?", text[:300]))
    return failed


class HoneyHiveOutput:
    """Posts events to `{server_url}/v1/events/batch` or `{server_url}/events/batch` (see the module docstring);
    `PUT {server_url}/events` for updates.

    Thread-safe: requests go through one pooled `requests.Session` (urllib3's pool is thread-safe)."""

    name = "honeyhive"

    def __init__(self, settings: HoneyHiveSettings, policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy(deadline=settings.timeout)
        self.reads_encoded = settings.batch_mode == "multi"
        """`EncodedEvents` are joined into bodies without being encoded again (`payload.encode_blocks`); one
        session per request needs the session event as an object, so that mode takes plain events."""
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **settings.headers}
        if settings.api_key:
            headers["Authorization"] = "Bearer " + settings.api_key.reveal()
        # The CA bundle given here wins over $REQUESTS_CA_BUNDLE; `verify=True` still takes it from there.
        self._http = pinned_session(settings.server_url, headers, settings.verify)
        self._batch_urls = {route: settings.server_url + path for route, path in ROUTE_PATHS.items()}
        self.route = LEGACY if settings.api_version == LEGACY else V1
        """The route batches go by now: v1 unless configured legacy, or switched to it ("auto")."""
        self._events_url = settings.server_url + "/events"
        self.requests_sent = 0
        self.bodies_skipped = 0
        """Bodies not sent again because HoneyHive had acknowledged them (a batch retried after a partial send)."""
        self._acknowledged: OrderedDict[tuple[int, bytes], None] = OrderedDict()
        """(length, digest) of bodies acknowledged in sends that did not finish, oldest first."""
        self._acknowledged_lengths: Counter[int] = Counter()
        self._acknowledged_lock = threading.Lock()
        self.request_bytes_limit = settings.max_request_bytes
        """Bodies are built under this: `max_request_bytes` until a body is refused as too large (413); then the
        largest body accepted once one tested the limit, else half the smallest refused (`_bounds_changed`)."""
        self.refused_bytes: int | None = None
        """The smallest body refused as too large (413), the upper bound of the receiver's limit: a body of one
        event under it is sent whole first, and cut only once refused (None: no 413 yet)."""
        self.accepted_bytes = 0
        """The largest body accepted under `refused_bytes`, the lower bound of the receiver's limit (0: none)."""
        self.too_large_refusals = 0
        """413 answers met, each answered by splitting the body and sending it again at once."""
        self._limit_logged = False
        self._limit_lock = threading.Lock()
        self._both_refused = False
        """In "auto": both batch routes refused the route since one last accepted (said once, in `_other_route`)."""

    def __repr__(self) -> str:
        return f"HoneyHiveOutput({self.settings!r})"

    @property
    def event_shape(self) -> EventShape | None:
        """Events bound for the v1 route are shaped for it as they are encoded (`V1_SHAPE`), which spares
        decoding each block to check it; a body for the legacy route puts back what the shape moved."""
        return V1_SHAPE if self.route == V1 and self.reads_encoded else None

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        """Deliver every body; one deadline bounds the whole send. Bodies already accepted stay accepted, and are
        skipped when the same batch is sent again (see the module docstring). A body refused as too large (413)
        is split and sent at once (`_split`). In "auto", a 404 or 405 on the route in use sends the batch again
        at once by the other route (`_other_route`)."""
        deadline = time.monotonic() + self.policy.deadline
        route = self.route
        result = self._send_by(route, events, deadline, stop)
        if self.settings.api_version == "auto" and _route_refused(result):
            return self._other_route(route, result, events, deadline, stop)
        if result.ok and self._both_refused:
            with self._limit_lock:
                self._both_refused = False
        return result

    def _other_route(
        self, route: str, refusal: SendResult, events: Sequence[Event], deadline: float,
        stop: threading.Event | None,
    ) -> SendResult:
        """`route` answered 404 or 405 ("auto"): the batch goes again at once by the other route, which is used
        from then on only once it has accepted a body (a switch made on a refusal alone would pin a route that
        answers no better, until a restart). When both refuse, the next send asks v1 first again, and the legacy
        route's refusal is returned (the v1 one's hint is about `api_version`, which is right already)."""
        other = LEGACY if route == V1 else V1
        result = self._send_by(other, events, deadline, stop)
        if result.ok or result.acknowledged:
            self._use_route(other, refusal)
            return result
        if not _route_refused(result):
            return result  # the other route is there but failed otherwise (down, a wrong key): nothing learned
        with self._limit_lock:
            self.route, first = V1, not self._both_refused
            self._both_refused = True
        v1, legacy = (refusal, result) if route == V1 else (result, refusal)
        if first:
            logger.warning(
                "HoneyHive answered both batch routes with a refusal of the route (POST %s: %s, POST %s: %s); check "
                "HH_API_URL (--server-url) and any proxy in between. Each try asks the v1 route, then the legacy "
                "one, until one accepts", shown_url(self._batch_urls[V1]), v1.status,
                shown_url(self._batch_urls[LEGACY]), legacy.status)
        return legacy

    def _use_route(self, route: str, refusal: SendResult) -> None:
        """Send by `route` from now on: it accepted a body after the other refused the route. Said once per switch,
        at info level: an older deployment (or one upgraded since) is not a fault; another thread may have
        switched already."""
        with self._limit_lock:
            switched, self.route, self._both_refused = self.route != route, route, False
        if not switched:
            return
        if route == LEGACY:
            logger.info(
                "HoneyHive answered the v1 batch route with %s; sending by the legacy POST %s from now on "
                "(set %s=legacy to start there)", refusal.status,
                shown_url(self._batch_urls[LEGACY]), HH_API_VERSION)
        else:
            logger.info("HoneyHive answered the legacy batch route with %s and accepted the v1 route; sending by "
                        "POST %s from now on", refusal.status, shown_url(self._batch_urls[V1]))

    def _send_by(
        self, route: str, events: Sequence[Event], deadline: float, stop: threading.Event | None
    ) -> SendResult:
        s = self.settings
        result = DELIVERED
        acknowledged: list[Body] = []
        skipped: list[tuple[int, bytes]] = []
        refusals: list[SendResult] = []
        limit, keep_under = self._limits()
        for body in encode(events, s.batch_mode, s.max_events_per_request, limit, route, keep_under):
            if len(body) > self.request_bytes_limit:  # one event under the refused size, or the limit was lowered
                result = self._split(body, None, deadline, stop, acknowledged, skipped)
            else:
                result = self._send_body(body, deadline, stop, acknowledged, skipped)
                if result.status == 413:
                    result = self._split(body, result, deadline, stop, acknowledged, skipped)
            if result.refused:  # some events too large even cut: the others go on
                refusals.append(result)
            elif not result.ok:
                self._remember(acknowledged)
                return replace(result, acknowledged=sum(b.event_count for b in acknowledged)) if acknowledged \
                    else result
        if refusals:
            self._remember(acknowledged)
            return _combined_refusal(refusals)
        self._forget(skipped)  # the batch is through: what it left behind has served
        return result

    def _send_body(
        self, body: Body, deadline: float, stop: threading.Event | None, acknowledged: list[Body],
        skipped: list[tuple[int, bytes]],
    ) -> SendResult:
        """One body, retried under what is left of the deadline; skipped when acknowledged in an earlier send."""
        known = self._acknowledged_key(body)
        if known is not None:
            self.bodies_skipped += 1
            skipped.append(known)
            return DELIVERED
        # A Body goes as its chunks (requests streams an iterable with a length under a Content-Length).
        data: bytes | Body = gzip.compress(body.data, compresslevel=5) if self.settings.compression == "gzip" else body
        policy = self._policy_until(deadline)
        if policy is None:
            return SendResult(Outcome.RETRY_LATER, "deadline passed before every batch was sent")
        result = run_with_retry(partial(self._request, "POST", self._batch_urls[body.route], data), policy, stop)
        if result.ok:
            acknowledged.append(body)
            if self.refused_bytes is not None and len(body) > self.accepted_bytes:
                self._accepted(len(body))
        return result

    def _policy_until(self, deadline: float) -> RetryPolicy | None:
        """The output's retry policy within what is left until `deadline`; None when nothing is left."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        return RetryPolicy(
            deadline=remaining,
            initial_backoff=self.policy.initial_backoff,
            max_backoff=self.policy.max_backoff,
            jitter=self.policy.jitter,
            max_attempts=self.policy.max_attempts,
        )

    def _split(
        self, body: Body, refusal: SendResult | None, deadline: float, stop: threading.Event | None,
        acknowledged: list[Body], skipped: list[tuple[int, bytes]],
    ) -> SendResult:
        """Send `body` as smaller bodies: it was refused as too large (`refusal`, a 413), or is larger than the
        limit learned since it was made. Why not fail: a gateway's body limit (nginx's default is 1 MiB) says
        nothing about the data, and halves get through. Each refused piece is made again under half its size
        (`payload.resplit`: down to one event, then that event's largest values cut) and sent at once, with no
        backoff and no failure counted; the order is kept, so a session event still goes first. Every answer
        narrows the bounds on the receiver's limit (`_refused`, `_accepted`) that later requests are built
        under. A piece that cannot get smaller (one event cut as far as it goes, or at the floor) is a refusal of
        that event's data: the other pieces are still sent, and the result names the refused events (REJECTED,
        status 413, `refused`), so that only those are set aside."""
        probe = self.request_bytes_limit
        refused_before = self.refused_bytes
        queue: deque[Body] = deque([body])
        refusals: list[SendResult] = []
        try:
            while queue:
                piece = queue.popleft()
                if refusal is not None:
                    self._refused(len(piece))
                    probe = max(MIN_REQUEST_BYTES, min(probe, self.request_bytes_limit, len(piece) // 2))
                    smaller = self._smaller(piece, probe)
                    if not smaller:
                        refusals.append(self._too_large(piece, refusal))
                    queue.extendleft(reversed(smaller))
                    refusal = None
                    continue
                limit = min(probe, self.request_bytes_limit)
                if len(piece) > limit:  # made under a larger limit: smaller first, when it can be
                    smaller = self._smaller(piece, limit)
                    if smaller:
                        queue.extendleft(reversed(smaller))
                        continue
                result = self._send_body(piece, deadline, stop, acknowledged, skipped)
                if result.status == 413:
                    refusal = result
                    queue.appendleft(piece)
                    continue
                if not result.ok:
                    return result
            return _combined_refusal(refusals) if refusals else DELIVERED
        finally:
            if self.refused_bytes != refused_before:
                self._log_bounds()

    def _limits(self) -> tuple[int, int]:
        """(the size bodies are built under, the size under which a body of one event is sent whole)."""
        with self._limit_lock:
            limit, refused = self.request_bytes_limit, self.refused_bytes
        return limit, (limit if refused is None else refused - 1)

    def _smaller(self, body: Body, limit: int) -> list[Body]:
        """`body` made again under `limit` (a single event left whole while under the smallest refused size);
        halved by event count when the bytes alone give nothing smaller (the limit at its floor); [] when nothing
        can be smaller: one event, cut as far as it goes."""
        s = self.settings
        keep_under = self._limits()[1]
        pieces = resplit(body, s.max_events_per_request, limit, keep_under)
        if all(p.event_count < body.event_count or len(p) < len(body) for p in pieces):  # each piece is progress
            return pieces
        if body.event_count > 1:
            pieces = resplit(body, (body.event_count + 1) // 2, limit, keep_under)
            if len(pieces) > 1:
                return pieces
        return []

    def _refused(self, size: int) -> None:
        """A `size`-byte body was refused as too large: the upper bound falls to it (and a lower bound at or over
        it is forgotten: the receiver's limit moved)."""
        with self._limit_lock:
            self.too_large_refusals += 1
            if self.refused_bytes is None or size < self.refused_bytes:
                self.refused_bytes = size
            if self.accepted_bytes >= size:
                self.accepted_bytes = 0
            self._bounds_changed()

    def _accepted(self, size: int) -> None:
        """A `size`-byte body passed after a 413 was met: the lower bound rises to it, when under the upper."""
        with self._limit_lock:
            if self.refused_bytes is not None and self.accepted_bytes < size < self.refused_bytes:
                self.accepted_bytes = size
                self._bounds_changed()

    def _bounds_changed(self) -> None:
        """Bodies are built under the largest accepted, known to pass, once it tested the limit: over a quarter of
        the smallest refused, as the pieces of a split are (made under half a refused size, each filled past half
        of that). Until then under half the smallest refused, as the split makes its pieces: a body that happened
        to be small (a lone session event beside a large one) says nothing of the limit, so it never drags the
        size down. Lock held."""
        refused = self.refused_bytes
        if refused is None:
            return
        accepted = self.accepted_bytes
        limit = max(MIN_REQUEST_BYTES, accepted if accepted * 4 > refused else refused // 2)
        self.request_bytes_limit = min(limit, self.settings.max_request_bytes)

    def _log_bounds(self) -> None:
        """Said once at warning level (a configuration worth knowing of), later changes at info. A size to start
        at is suggested only when known to pass: the largest body accepted, a lower bound of the limit."""
        with self._limit_lock:
            limit, refused, accepted = self.request_bytes_limit, self.refused_bytes, self.accepted_bytes
            first, self._limit_logged = not self._limit_logged, True
        if refused is None:
            return
        if accepted and accepted == limit:
            known = (f"the largest body it accepted; its limit is at least that and under {refused} bytes (set "
                     f"HH_MAX_REQUEST_BYTES={accepted} to start there)")
        else:
            known = f"its limit is under {refused} bytes; no body that large has passed yet"
        logger.log(logging.WARNING if first else logging.INFO,
                   "HoneyHive refused a %d-byte body (413); requests are now built under %d bytes: %s",
                   refused, limit, known)

    def _too_large(self, body: Body, refusal: SendResult | None) -> SendResult:
        """The refusal of `body`'s events as data too large for this receiver, naming them (`refused`) and saying
        what was tried: cut, not cut because nothing in it can be, or at the floor."""
        events = source_events(body)
        ids = [e.get("event_id") for e in events]
        cut = _TRUNCATED_MARK in body.data
        if len(body) <= MIN_REQUEST_BYTES:
            tried = (f"{'even cut; ' if cut else ''}no request is made smaller than {MIN_REQUEST_BYTES:,} bytes, "
                     "the floor of the size learned from 413s")
        elif cut:
            tried = "even with its largest values cut to fit (listed in metadata.otel_honeyhive_truncated)"
        else:
            tried = f"and nothing in it can be cut (ids, types, numbers and values under {CUT_MIN} bytes never are)"
        which = ", ".join(str(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        detail = (f"HoneyHive refused a {len(body)}-byte body of {body.event_count} event(s)"
                  f"{f' (event {which})' if which else ''} as too large (413), {tried}; the data cannot be sent "
                  "to this receiver")
        if refusal is not None:
            detail += f": {refusal.detail}"
        named = tuple(i for i in ids if isinstance(i, str))
        whole = not named or len(named) < len(ids)  # an event without an id cannot be named: the batch is refused
        return SendResult(Outcome.REJECTED, detail, status=413, refused=() if whole else named)

    @staticmethod
    def _digest(body: Body) -> tuple[int, bytes]:
        digest = hashlib.blake2b(digest_size=16)
        for chunk in body:
            digest.update(chunk)
        return len(body), digest.digest()

    def _acknowledged_key(self, body: Body) -> tuple[int, bytes] | None:
        with self._acknowledged_lock:
            if len(body) not in self._acknowledged_lengths:
                return None
            key = self._digest(body)
            return key if key in self._acknowledged else None

    def _remember(self, bodies: list[Body]) -> None:
        if not bodies:
            return
        keys = [self._digest(data) for data in bodies]
        with self._acknowledged_lock:
            for key in keys:
                if key not in self._acknowledged:
                    self._acknowledged[key] = None
                    self._acknowledged_lengths[key[0]] += 1
            while len(self._acknowledged) > REMEMBERED_BODIES:
                self._drop(self._acknowledged.popitem(last=False)[0])

    def _forget(self, keys: list[tuple[int, bytes]]) -> None:
        if not keys:
            return
        with self._acknowledged_lock:
            for key in keys:
                if key in self._acknowledged:
                    del self._acknowledged[key]
                    self._drop(key)

    def _drop(self, key: tuple[int, bytes]) -> None:
        self._acknowledged_lengths[key[0]] -= 1
        if not self._acknowledged_lengths[key[0]]:
            del self._acknowledged_lengths[key[0]]

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        """`PUT /events`, built under the same size as batches: an update too large has its largest values cut
        (`payload.fit`, listed in `metadata.otel_honeyhive_truncated`, which HoneyHive merges into the event's),
        and one refused as too large (413) is cut to half its size and sent again at once, as an event would be;
        one that cannot get smaller is a refusal of the data (REJECTED, status 413)."""
        deadline = time.monotonic() + self.policy.deadline
        patch = {"event_id": update.event_id, **update.fields}
        limit, keep_under = self._limits()
        data = fit(patch, limit, keep_under)
        policy: RetryPolicy | None = self.policy
        refused_before = self.refused_bytes
        try:
            while policy is not None:
                body = data
                result = run_with_retry(partial(self._request, "PUT", self._events_url, body), policy, stop)
                if result.ok and self.refused_bytes is not None and len(body) > self.accepted_bytes:
                    self._accepted(len(body))
                if result.status != 413:
                    return result
                self._refused(len(body))
                smaller = fit(patch, max(MIN_REQUEST_BYTES, min(self.request_bytes_limit, len(body) // 2)))
                if len(smaller) >= len(body):  # the update as a whole: there are no other events to send
                    refusal = self._too_large(Body.of(body, 1, ("multi", [patch])), result)
                    return SendResult(Outcome.REJECTED, refusal.detail, status=413)
                data, policy = smaller, self._policy_until(deadline)
            return SendResult(Outcome.RETRY_LATER, "deadline passed before the update was sent")
        finally:
            if self.refused_bytes != refused_before:
                self._log_bounds()

    def _request(self, method: str, url: str, data: bytes | Body, timeout: float) -> SendResult:
        where = f"{method} {shown_url(url)}"
        headers = {"Content-Encoding": "gzip"} if self.settings.compression == "gzip" and method == "POST" else None
        try:
            self.requests_sent += 1
            response = self._http.request(
                method, url, data=data, headers=headers, timeout=(min(_CONNECT_TIMEOUT, timeout), timeout)
            )
        except requests.Timeout:
            return SendResult(Outcome.RETRY_LATER, f"{where}: timed out after {timeout:.1f}s")
        except requests.ConnectionError as exc:
            return SendResult(Outcome.RETRY_LATER, f"{where}: connection failed ({type(exc).__name__})")
        except requests.RequestException as exc:
            return SendResult(Outcome.REJECTED, f"{where}: {type(exc).__name__}")
        outcome = classify_status(response.status_code)
        if outcome is Outcome.DELIVERED:
            return DELIVERED
        if response.status_code == 500 and method == "POST":
            partial_result = self._partially_created(where, response)
            if partial_result is not None:
                return partial_result
        detail = (f"{where}: HTTP {response.status_code} {response.text[:300]!r}"
                  f"{_hint(method, response.status_code, url)}")
        # Any refusal may say when to come back (a 403 from a gateway's rate plan, a 401 while a key rotates): the
        # shipper honours it for configuration refusals too, within its cap.
        return SendResult(outcome, detail, parse_retry_after(response.headers.get("Retry-After")),
                          response.status_code)

    @staticmethod
    def _partially_created(where: str, response: requests.Response) -> SendResult | None:
        """A 500 "events partially created" (an `errors` list, one message per failed event, beside the ids that
        were created): logged with the event ids the errors name, and answered RETRY_LATER so the batch goes
        again (ids are deterministic: the events created already are not doubled). None for any other 500."""
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not isinstance(errors, list) or not errors:
            return None
        created = answer.get("event_ids")
        failed = _failed_events(errors)
        shown = "; ".join(f"{ids}: {message}" for ids, message in failed[:MAX_LOGGED_ERRORS])
        more = f"; and {len(failed) - MAX_LOGGED_ERRORS} more" if len(failed) > MAX_LOGGED_ERRORS else ""
        made = f"{len(created)} created, " if isinstance(created, list) else ""
        logger.warning("%s: HTTP 500, events partially created (%s%d failed); the batch is sent again: %s%s",
                       where, made, len(failed), shown, more)
        return SendResult(Outcome.RETRY_LATER,
                          f"{where}: HTTP 500, events partially created ({len(failed)} failed): {shown[:300]}",
                          parse_retry_after(response.headers.get("Retry-After")), 500)

    def after_fork_in_child(self) -> None:
        """In a forked child: a new connection pool (the pooled keep-alive sockets are the parent's; nothing is
        sent on them) and fresh lock and counts. Bodies the parent had acknowledged are the parent's to skip."""
        self._http = self._http.renewed()
        self._acknowledged_lock = threading.Lock()
        self._acknowledged = OrderedDict()
        self._acknowledged_lengths = Counter()
        self.requests_sent = self.bodies_skipped = self.too_large_refusals = 0
        self._limit_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()
