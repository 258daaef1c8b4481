"""The routing table (core/routing.py): ordered rules on the root's resource or span attributes choose a trace's
project, unrouted traces go to the default project or are refused, every project has a key, and every problem in
a table is one line naming where it is."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from otel_honeyhive.core.routing import RoutingTable, TraceRouter
from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.core.spans import SpanView

ENV = {"HH_KEY_SUPPORT": "key-support", "HH_KEY_BILLING": "key-billing", "HH_KEY_ACME": "key-acme"}


def table(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rules": [
            {"resource": {"service.name": "support-*"}, "project": "support"},
            {"resource": {"service.name": "billing"}, "project": "billing"},
            {"span": {"tenant.id": "acme"}, "project": "acme"},
        ],
        "projects": {
            "support": {"api_key_env": "HH_KEY_SUPPORT"},
            "billing": {"api_key_env": "HH_KEY_BILLING"},
            "acme": {"api_key_env": "HH_KEY_ACME"},
            "main": {"api_key": "key-main"},
        },
        "default": "main",
    }
    data.update(extra)
    return data


def parse(data: dict[str, Any], **kwargs: Any) -> RoutingTable:
    return RoutingTable.parse(data, where="routes.toml", environ=kwargs.pop("environ", ENV), **kwargs)


def span(span_id: int, *, parent: int = 0, service: str | None = "support-api", start: int = 0,
         remote: bool = False, trace: int = 7, attrs: dict[str, Any] | None = None, **attributes: Any) -> SpanView:
    attributes.update(attrs or {})
    resource = {"service.name": service} if service is not None else {}
    return SpanView(trace, span_id, f"span-{span_id}", start, start + 10, parent_span_id=parent,
                    parent_is_remote=remote, attributes=attributes, resource=resource)


def test_rules_are_tried_in_order_on_the_roots_resource() -> None:
    routes = parse(table())
    assert routes.project_for([span(1, service="support-api")]) == "support"
    assert routes.project_for([span(1, service="billing")]) == "billing"
    assert routes.project_for([span(1, service="billing-worker")]) == "main"  # exact, not a prefix


def test_a_span_rule_matches_the_root_or_else_the_first_span_carrying_the_attribute() -> None:
    routes = parse(table())
    assert routes.project_for([span(1, service="web", attrs={"tenant.id": "acme"})]) == "acme"
    child = span(2, parent=1, service="web", start=5, attrs={"tenant.id": "acme"})
    assert routes.project_for([span(1, service="web"), child]) == "acme"
    assert routes.project_for([span(1, service="web", attrs={"tenant.id": "other"}), child]) == "main"  # root wins


def test_the_root_decides_when_resources_differ_and_a_part_without_root_uses_its_earliest_local_root() -> None:
    routes = parse(table())
    root = span(1, service="billing", start=50)
    assert routes.project_for([span(2, parent=1, service="support-x", start=0), root]) == "billing"
    part = [span(3, parent=9, service="support-x", start=0), span(4, parent=8, remote=True, service="billing",
                                                                      start=10)]
    assert routes.project_for(part) == "billing"


def test_globs_and_non_string_values() -> None:
    routes = parse(table(rules=[
        {"resource": {"service.name": "svc-[ab]?"}, "project": "support"},
        {"span": {"shard": 3}, "project": "billing"},
        {"span": {"beta": True}, "project": "acme"},
    ]))
    assert routes.project_for([span(1, service="svc-a1")]) == "support"
    assert routes.project_for([span(1, service="svc-c1")]) == "main"
    assert routes.project_for([span(1, service="x", shard=3)]) == "billing"
    assert routes.project_for([span(1, service="x", beta=True)]) == "acme"
    assert routes.project_for([span(1, service="x", beta="yes")]) == "main"


def test_unrouted_traces_are_refused_when_configured() -> None:
    routes = parse(table(unrouted="refuse"))
    assert routes.project_for([span(1, service="unknown")]) is None
    assert parse({k: v for k, v in table().items() if k != "default"}).unrouted == "refuse"


def test_keys_come_from_the_environment_or_the_table_and_are_secrets() -> None:
    routes = parse(table())
    assert routes.key_for("support") == Secret("key-support")
    assert routes.key_for("main") == Secret("key-main")
    assert routes.key_for("nobody") is None
    assert "key-" not in repr(routes)


def test_the_default_project_may_use_the_processes_own_key() -> None:
    data = table()
    del data["projects"]["main"]
    routes = parse(data, fallback_key=Secret("process-key"))
    assert routes.key_for("main") == Secret("process-key")


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.update(colour="red"), "routes.toml: routing: unknown key(s) 'colour'"),
    (lambda t: t["rules"][1].update(service="x"), "routes.toml: routing.rules[1]: unknown key(s) 'service'"),
    (lambda t: t["rules"][0].pop("project"), "routes.toml: routing.rules[0].project: must be a project name"),
    (lambda t: t["rules"][0]["resource"].update({"service.name": "svc-[a"}),
     "routes.toml: routing.rules[0].resource.service.name: bad glob 'svc-[a': '[' is not closed"),
    (lambda t: t["rules"][0].update(resource={}), "routes.toml: routing.rules[0]: matches nothing"),
    (lambda t: t["projects"].pop("billing"),
     "routes.toml: routing.rules[1].project: project 'billing' has no key"),
    (lambda t: t["projects"]["billing"].update(api_key_env="HH_KEY_NOT_SET"),
     "routes.toml: routing.projects.billing.api_key_env: environment variable HH_KEY_NOT_SET is not set"),
    (lambda t: t["projects"].update(billing={}), "routes.toml: routing.projects.billing: has no key"),
    (lambda t: t["projects"]["main"].update(api_key_env="HH_KEY_ACME"),
     "routes.toml: routing.projects.main: give api_key_env or api_key, not both"),
    (lambda t: t["projects"].pop("main"), "routes.toml: routing.default: project 'main' has no key"),
    (lambda t: t.update(unrouted="drop"), "routes.toml: routing.unrouted: must be one of default, refuse"),
    (lambda t: t.pop("default"), "routes.toml: routing.unrouted: is 'default' but routing.default names no"),
])
def test_a_bad_table_is_one_line_naming_the_file_and_key_path(change: Any, message: str) -> None:
    data = table(unrouted="default")
    change(data)
    with pytest.raises(ValueError) as raised:
        parse(data)
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert "key-" not in text  # never a key's value


def test_the_router_remembers_a_traces_project_for_its_later_parts() -> None:
    router = TraceRouter(parse(table()))
    first_part = [span(2, parent=1, service="billing", start=5)]
    assert router.project_for(first_part) == "billing"
    # The root comes later with another resource (a wrong one): the trace still goes where it started.
    assert router.project_for([span(1, service="support-api")]) == "billing"


def test_refused_traces_are_logged_once_per_service_name(caplog: pytest.LogCaptureFixture) -> None:
    router = TraceRouter(parse(table(unrouted="refuse")))
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive.routing"):
        for trace in range(1, 6):
            assert router.project_for([span(1, trace=trace, service="stray", secret="hunter2")]) is None
        router.project_for([span(1, trace=9, service="other")])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "service.name='stray'" in lines[0]
    assert "hunter2" not in " ".join(lines)


def test_events_that_arrive_as_events_are_refused_when_their_project_has_no_key() -> None:
    router = TraceRouter(parse(table()))
    assert router.unkeyed([{"project": "billing"}, {"project": "main"}]) is None
    refused = router.unkeyed([{"project": "billing"}, {"project": "marketing"}, {}])
    assert refused is not None and not refused.ok
    assert "project(s) None, marketing refused" in refused.detail and "key-" not in refused.detail


def test_a_resource_alone_is_routed_only_where_no_span_rule_could_have_decided_first() -> None:
    """What carries only a resource (a log record whose trace was never mapped here) goes where a trace of that
    resource would, when the resource can tell: a span rule before the matching one, or a span rule the resource
    leaves open with nothing after it, could have sent the trace elsewhere."""
    routes = parse(table())
    assert routes.project_for_resource({"service.name": "support-api"}) == "support"
    assert routes.project_for_resource({"service.name": "billing"}) == "billing"
    assert routes.project_for_resource({"service.name": "web"}) is None  # the tenant rule might match its spans
    span_first = parse(table(rules=[{"span": {"tenant.id": "acme"}, "project": "acme"},
                                    {"resource": {"service.name": "billing"}, "project": "billing"}]))
    assert span_first.project_for_resource({"service.name": "billing"}) is None
    resource_only = parse(table(rules=[{"resource": {"service.name": "billing"}, "project": "billing"}]))
    assert resource_only.project_for_resource({"service.name": "web"}) == "main"  # the default
    refusing = parse(table(rules=[{"resource": {"service.name": "billing"}, "project": "billing"}],
                           unrouted="refuse"))
    assert refusing.project_for_resource({"service.name": "web"}) is None


def test_the_router_gives_a_traces_remembered_decision_before_asking_the_resource() -> None:
    router = TraceRouter(parse(table()))
    assert router.project_for([span(1, service="web", trace=9, attrs={"tenant.id": "acme"})]) == "acme"
    assert router.decided(9, {"service.name": "billing"}) == "acme"
    assert router.decided(10, {"service.name": "billing"}) == "billing"
