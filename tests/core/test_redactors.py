"""The built-in redactors find what they are named for, and nothing else: ids, timestamps, version numbers and
Luhn-invalid numbers pass through untouched (docs/privacy.md#the-redactors)."""

from __future__ import annotations

import ipaddress
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.redactors import (
    BUILT_IN,
    REGEX_REPLACEMENT,
    Redactor,
    is_card_number,
    luhn_valid,
    parse_names,
    redact,
    redactors_named,
    regex_redactor,
    resolve,
)

EVERY = redactors_named(["all"])
CARD = redactors_named(["credit_card"])


def luhn_digit(partial: str) -> str:
    """The check digit that makes `partial` + digit Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 13 to 19 digits that starts like a card (2–6)."""
    length = draw(st.integers(13, 19))
    first = draw(st.sampled_from("23456"))
    body = draw(st.text(string.digits, min_size=length - 2, max_size=length - 2))
    partial = first + body
    return partial + luhn_digit(partial)


@st.composite
def luhn_invalid(draw: st.DrawFn) -> str:
    number = draw(st.text(string.digits, min_size=16, max_size=16))
    return number[:-1] + str((int(number[-1]) + 1) % 10) if luhn_valid(number) else number


# Prose around a value: words and spaces, never touching it (a value glued to letters is part of a word).
prose = st.text(string.ascii_letters + " ,;", max_size=30).map(lambda text: text.strip(" "))


def embedded(before: str, value: str, after: str) -> str:
    return f"{before} {value} {after}"


# -- credit cards ------------------------------------------------------------------------------------------------


@given(card_numbers(), prose, prose)
def test_a_luhn_valid_card_number_in_text_is_always_replaced(number: str, before: str, after: str) -> None:
    text, count = redact(embedded(before, number, after), EVERY)
    assert number not in text
    assert "<credit_card>" in text and count >= 1


@given(card_numbers(), st.sampled_from([" ", "-"]))
def test_a_card_number_written_in_groups_of_four_is_replaced(number: str, separator: str) -> None:
    number = number[:16] if len(number) >= 16 else number
    if len(number) != 16 or not is_card_number(number):
        return
    grouped = separator.join(number[i:i + 4] for i in range(0, 16, 4))
    assert redact(f"card: {grouped}.", CARD) == ("card: <credit_card>.", 1)


@given(luhn_invalid(), prose, prose)
def test_a_luhn_invalid_sixteen_digit_number_is_never_replaced(number: str, before: str, after: str) -> None:
    text = embedded(before, number, after)
    assert redact(text, CARD) == (text, 0)


@given(st.integers(10**12, 2 * 10**12 - 1), st.sampled_from([1, 1_000, 1_000_000]))
def test_timestamps_are_never_taken_for_cards(millis: int, scale: int) -> None:
    """Epoch milliseconds, microseconds and nanoseconds of 2001 to 2033 all start with 1."""
    stamp = millis * scale
    text = f'{{"start_time": {stamp}, "ts": "{stamp}"}}'
    assert redact(text, EVERY) == (text, 0)


def test_known_test_card_numbers_of_each_network_are_replaced() -> None:
    for number in ("4111111111111111", "5555555555554444", "2223003122003222", "378282246310005",
                   "6011111111111117", "3530111333300000", "30569309025904", "4111 1111 1111 1111",
                   "3782 822463 10005"):
        assert redact(f"pay with {number} now", CARD) == ("pay with <credit_card> now", 1), number


def test_numbers_inside_words_decimals_and_ids_are_not_cards() -> None:
    for text in ("order-4111111111111111", "0.4111111111111111", "4111111111111111.5", "x4111111111111111",
                 "41111111111111111111", "4111-1111-1111-1111-1111"):
        assert redact(text, CARD) == (text, 0), text


# -- ids are never secrets ---------------------------------------------------------------------------------------


@given(st.uuids())
def test_uuids_are_never_replaced(value: object) -> None:
    for text in (str(value), str(value).upper(), f"id={value}", f'{{"event_id": "{value}"}}'):
        assert redact(text, EVERY) == (text, 0)


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1))
def test_hex_trace_and_span_ids_are_never_replaced(trace_id: int, span_id: int) -> None:
    text = f"trace {trace_id:032x} span {span_id:016x} traceparent 00-{trace_id:032x}-{span_id:016x}-01"
    assert redact(text, EVERY) == (text, 0)


# -- emails ------------------------------------------------------------------------------------------------------

local_parts = st.text(string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=30).filter(
    lambda local: local[0] not in "._%+-")
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
tlds = st.text(string.ascii_lowercase, min_size=2, max_size=6)


@given(local_parts, st.lists(labels, min_size=1, max_size=3), tlds, prose, prose)
def test_an_email_address_in_text_is_always_replaced(local: str, domain: list[str], tld: str, before: str,
                                                     after: str) -> None:
    address = f"{local}@{'.'.join(domain)}.{tld}"
    text, count = redact(embedded(before, address, after), EVERY)
    assert address not in text and "<email>" in text and count == 1


def test_an_at_sign_without_a_domain_is_not_an_email() -> None:
    for text in ("@mention", "user@localhost", "a @ b.com", "python@3.12"):
        assert redact(text, EVERY) == (text, 0), text


# -- API keys ----------------------------------------------------------------------------------------------------

key_chars = string.ascii_letters + string.digits


@pytest.mark.parametrize(("prefix", "alphabet", "length"), [
    ("sk-", key_chars + "_-", 48),
    ("sk-proj-", key_chars + "_-", 120),
    ("sk-ant-api03-", key_chars + "_-", 90),
    ("sk-svcacct-", key_chars, 60),
    ("AKIA", string.ascii_uppercase + string.digits, 16),
    ("ASIA", string.ascii_uppercase + string.digits, 16),
    ("ghp_", key_chars, 36),
    ("gho_", key_chars, 36),
    ("github_pat_", key_chars + "_", 82),
    ("xoxb-", string.digits + "-", 40),
    ("xoxa-", key_chars + "-", 40),
    ("xoxp-", key_chars + "-", 60),
    ("AIza", key_chars + "_-", 35),
    ("sk_live_", key_chars, 24),
    ("hf_", key_chars, 34),
])
def test_each_provider_key_shape_is_replaced(prefix: str, alphabet: str, length: int) -> None:
    @given(st.text(alphabet, min_size=length, max_size=length), prose)
    def check(body: str, before: str) -> None:
        key = prefix + body
        text, count = redact(f"{before} key={key} and more", EVERY)
        assert key not in text and "key=<api_key> and more" in text and count == 1

    check()


@given(st.text(key_chars + "._~+/-", min_size=16, max_size=200))
def test_a_bearer_token_is_replaced_and_the_scheme_kept(token: str) -> None:
    for header in (f"Authorization: Bearer {token}", f"authorization: bearer {token}"):
        text, count = redact(header, redactors_named(["api_key"]))
        assert token not in text and text.endswith("earer <api_key>") and count == 1


def test_words_that_merely_look_like_keys_are_kept() -> None:
    for text in ("sk-short", "task-force", "the bearer of bad news", "Bearer token", "AKIA", "ghp_short",
                 "xoxb-", "mask-ant-api03", "desk-proj-abcdefghijklmnopqrstuvwxyz"):
        assert redact(text, EVERY) == (text, 0), text


# -- IP addresses ------------------------------------------------------------------------------------------------


@given(st.ip_addresses(v=4), prose, prose)
def test_an_ipv4_address_is_always_replaced(address: ipaddress.IPv4Address, before: str, after: str) -> None:
    text, count = redact(embedded(before, str(address), after), EVERY)
    assert str(address) not in text and "<ip>" in text and count == 1


@given(st.ip_addresses(v=6).filter(lambda a: a != ipaddress.IPv6Address("::")), prose, prose)
def test_an_ipv6_address_is_always_replaced(address: ipaddress.IPv6Address, before: str, after: str) -> None:
    for spelled in (str(address), address.exploded):
        text, count = redact(embedded(before, spelled, after), EVERY)
        assert spelled not in text and "<ip>" in text and count == 1


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 999))
def test_version_numbers_are_never_taken_for_addresses(major: int, minor: int, patch: int) -> None:
    for text in (f"{major}.{minor}.{patch}", f"version {major}.{minor}.{patch}", f"v{major}.{minor}.{patch}.1",
                 f"{major}.{minor}.{patch}.1.2", f"python=={major}.{minor}.{patch}"):
        assert redact(text, redactors_named(["ip"])) == (text, 0), text


def test_times_macs_and_scope_operators_are_not_ipv6() -> None:
    for text in ("at 12:30:45", "00:1a:2b:3c:4d:5e", "std::vector", "a :: b", "ratio 1:2:3"):
        assert redact(text, EVERY) == (text, 0), text


def test_an_address_with_a_port_keeps_the_port() -> None:
    assert redact("GET http://10.0.0.7:8080/x", EVERY) == ("GET http://<ip>:8080/x", 1)
    assert redact("[2001:db8::1]:443", EVERY) == ("[<ip>]:443", 1)


# -- text that escapes its line breaks ---------------------------------------------------------------------------


ESCAPED_SECRETS = ("4111 1111 1111 1111", "4111111111111111", "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
                   "AKIAABCDEFGHIJKLMNOP", "ghp_" + "a" * 36, "192.168.10.77", "2001:db8::8a2e:370:7334",
                   "ada.lovelace@example.com")


@pytest.mark.parametrize("escape", ["\\n", "\\t", "\\r"])
@pytest.mark.parametrize("secret", ESCAPED_SECRETS)
def test_a_value_right_after_an_escaped_line_break_is_replaced(secret: str, escape: str) -> None:
    """Text that is not JSON (a Python repr, a JSON string cut short by the SDK's attribute length limit, a log
    line) writes a line break as the two characters `\\n`: the letter before the value is the escape's, not a
    word's."""
    for text in (f"{{'content': 'my details:{escape}{secret}{escape}thanks'}}",
                 f'{{"messages": [{{"content": "my details:{escape}{secret}{escape}and mo'):
        redacted, count = redact(text, EVERY)
        assert secret not in redacted and count == 1, redacted


def test_a_bearer_token_right_after_an_escaped_line_break_is_replaced() -> None:
    token = "abcdefghijklmnop1234567890"
    redacted, count = redact(f"'headers: Host: x\\nBearer {token}\\n'", EVERY)
    assert token not in redacted and count == 1


# -- every redactor ----------------------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once, _ = redact(text, EVERY)
    assert redact(once, EVERY) == (once, 0)


@given(st.text(max_size=200))
def test_text_without_matches_comes_back_as_the_same_object(text: str) -> None:
    redacted, count = redact(text, EVERY)
    if count == 0:
        assert redacted is text


def test_pathological_input_is_redacted_quickly() -> None:
    import time

    texts = ["a" * 100_000 + "@", "1" * 100_000, ":" * 50_000 + "1", "a@" * 50_000, "1." * 50_000,
             "Bearer " * 20_000, "sk-" * 30_000, "-".join(["1234"] * 20_000)]
    started = time.perf_counter()
    for text in texts:
        redact(text, EVERY)
    assert time.perf_counter() - started < 2.0


# -- naming and user patterns ------------------------------------------------------------------------------------


def test_names_select_redactors_and_all_selects_every_one() -> None:
    assert {r.name for r in redactors_named(["email", "IP"])} == {"email", "ip"}
    assert {r.name for r in redactors_named(["all"])} == set(BUILT_IN)
    assert parse_names("email, api_key ip") == ("email", "api_key", "ip")
    with pytest.raises(ValueError, match=r"unknown redactor 'emial' \(choose from email, credit_card"):
        redactors_named(["emial"])


def test_a_user_pattern_replaces_its_matches_and_a_bad_one_is_one_clear_error() -> None:
    employee = regex_redactor(r"EMP-\d{6}")
    assert employee.redact("by EMP-123456 and EMP-654321") == (
        f"by {REGEX_REPLACEMENT} and {REGEX_REPLACEMENT}", 2)
    with pytest.raises(ValueError, match=r"^bad regular expression '\(': missing \)"):
        regex_redactor("(")
    with pytest.raises(ValueError, match="matches the empty string"):
        regex_redactor("x*")


def test_resolve_takes_names_compiled_patterns_and_redactors() -> None:
    custom = Redactor("regex", re.compile("secret"), "<s>")
    resolved = resolve(["email", re.compile("(?i)internal"), custom])
    assert [r.name for r in resolved] == ["email", "regex", "regex"]
    assert redact("INTERNAL secret a@b.io", resolved) == (f"{REGEX_REPLACEMENT} <s> <email>", 3)
    with pytest.raises(ValueError, match="a redactor is a name"):
        resolve([42])  # type: ignore[list-item]
