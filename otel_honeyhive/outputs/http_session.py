"""The `requests` session every HTTP output uses, with the environment read once instead of per request.

`requests` consults the environment on every request: the proxy variables and `no_proxy`, the CA-bundle
variables, `~/.netrc`. An output only ever talks to one URL, so the answer never changes, yet asking costs
about a millisecond a request (measured: a quarter of the exporter's HTTP time). `pinned_session` asks once,
with requests' own rules (`Session.merge_environment_settings`), and the session stops asking. Proxies and CA
bundles set in the environment still apply, as they did; `~/.netrc` no longer does, which also means it can
no longer replace the `Authorization` header an output sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class PinnedSession:
    session: requests.Session
    proxies: dict[str, str]
    verify: bool | str
    """`verify` as the environment resolved it ($REQUESTS_CA_BUNDLE for True)."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """`Session.request` with the resolved proxies and `verify`, which the session no longer looks up."""
        return self.session.request(method, url, proxies=self.proxies, verify=self.verify, **kwargs)

    def close(self) -> None:
        self.session.close()

    def renewed(self) -> PinnedSession:
        """The same settings on a new session with an empty connection pool: what a forked child uses, since the
        pooled keep-alive sockets (and the pool's lock) are its parent's. The old session is dropped, not closed:
        nothing is sent on the parent's sockets."""
        session = requests.Session()
        session.headers.update(self.session.headers)
        session.trust_env = False
        return PinnedSession(session, self.proxies, self.verify)


def pinned_session(url: str, headers: Mapping[str, str], verify: bool | str = True) -> PinnedSession:
    session = requests.Session()
    session.headers.update(headers)
    settings = session.merge_environment_settings(url, {}, None, verify, None)
    session.trust_env = False
    resolved = settings["verify"]
    return PinnedSession(session, dict(settings["proxies"]), verify if resolved is None else resolved)
