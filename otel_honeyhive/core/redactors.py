"""Built-in redactors: pure functions that find secrets and personal data in text and replace them in place.

Each redactor is a regular expression, optionally confirmed by a check (a card number must pass Luhn and start
like a card; an IPv6 candidate must parse), replacing what it finds with a marker such as `<email>`. They know
nothing of spans or events: `pipeline/masking.py` decides which values they see (docs/privacy.md). The patterns
are anchored on word boundaries so that ids (UUIDs, hex trace and span ids), version numbers and timestamps are
never taken for what they are not; every quantifier is bounded so that no input makes them slow.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Redactor:
    """One pattern and what replaces its matches."""

    name: str
    """The built-in redactor it belongs to (`email`, …), or `regex` for a user's pattern."""
    pattern: re.Pattern[str]
    replacement: str
    check: Callable[[str], bool] | None = None
    """Confirms a candidate match (the text of `group`); a candidate it refuses is left as it is."""
    hints: tuple[str, ...] = ()
    """Substrings one of which every match contains: text without any of them is not searched at all."""
    precheck: Callable[[str], bool] | None = None
    """A cheaper test every text with a match passes (enough digits for a card number): others are not searched."""
    group: int = 0
    """The group replaced (`Bearer <token>` keeps its scheme word)."""

    def redact(self, text: str) -> tuple[str, int]:
        """`text` with every match replaced, and how many were."""
        if self.hints and not any(hint in text for hint in self.hints):
            return text, 0
        if self.precheck is not None and not self.precheck(text):
            return text, 0
        if self.check is None and self.group == 0:
            return self.pattern.subn(self.replacement, text)
        check, group, replacement = self.check, self.group, self.replacement
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            found = match.group(group)
            if check is not None and not check(found):
                return match.group(0)
            count += 1
            if group == 0:
                return replacement
            whole, start = match.group(0), match.start(group) - match.start(0)
            return whole[:start] + replacement + whole[start + len(found):]

        redacted = self.pattern.sub(replace, text)
        return (redacted, count) if count else (text, 0)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum (ISO/IEC 7812-1) of a string of ASCII digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


CARD_FIRST_DIGITS = frozenset("23456")
"""Every card network's numbers start with 2 (Mastercard 2221–2720), 3 (Amex, JCB, Diners), 4 (Visa), 5
(Mastercard, Maestro) or 6 (Discover, UnionPay, Maestro); timestamps in ms or ns (they start with 1 in this era)
and most counters do not."""


_NOT_DIGITS = bytes(byte for byte in range(256) if not 0x30 <= byte <= 0x39)


def has_card_digits(text: str) -> bool:
    """At least 13 ASCII digits anywhere (counted in C: deleting every other byte is far cheaper than a regex
    scan of text that has none)."""
    return len(text.encode("utf-8", "surrogatepass").translate(None, _NOT_DIGITS)) >= 13


def is_card_number(text: str) -> bool:
    """13 to 19 digits (spaces and dashes between groups ignored), a card network's first digit, Luhn-valid."""
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits[0] in CARD_FIRST_DIGITS and luhn_valid(digits)


def is_ipv4(text: str) -> bool:
    """Four dotted numbers, each at most 255."""
    return all(int(part) <= 255 for part in text.split("."))


def is_ipv6(text: str) -> bool:
    """A valid IPv6 address with at least one hex digit (a bare `::` in prose is not taken for one)."""
    if text.strip(":") == "":
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


ESCAPE = r"\\[nrtbf]"
"""A line break, tab, backspace or form feed written as an escape (`\\n`): in text that is not JSON (a Python
repr, JSON cut short by an attribute length limit, a log line) the letter before a value is the escape's, so the
boundaries below let a match start right after one, as after a space."""


EMAIL = Redactor(
    "email",
    re.compile(
        r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,10}[A-Za-z]{2,63}(?![\w-])"
    ),
    "<email>",
    hints=("@",),
)
CREDIT_CARD = Redactor(
    "credit_card",
    re.compile(
        # Each pattern starts with the character class it needs first, its boundary checked just after (a
        # lookbehind over that character): the regex engine then skips ahead to candidates instead of trying the
        # boundary at every position, which makes scanning prose several times faster.
        rf"[0-9](?:(?<={ESCAPE}[0-9])|(?<![\w.-][0-9]))(?:[0-9]{{12,18}}"
        r"|[0-9]{3}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}"  # 4-4-4-4 (Visa, Mastercard …)
        r"|[0-9]{3}(?P<amex>[ -])[0-9]{6}(?P=amex)[0-9]{4,5})"  # 4-6-5 (Amex), 4-6-4 (Diners)
        r"(?![\w-]|\.[0-9])"
    ),
    "<credit_card>",
    check=is_card_number,
    precheck=has_card_digits,
)
API_KEY = Redactor(
    "api_key",
    re.compile(
        # OpenAI (sk-, sk-proj-, sk-svcacct-), Anthropic (sk-ant-) …
        rf"(?:s(?:(?<={ESCAPE}s)|(?<![\w-]s))k(?:-[A-Za-z0-9_-]{{20,400}}"
        r"|_(?:live|test)_[A-Za-z0-9]{16,250})"  # Stripe secret keys
        rf"|r(?:(?<={ESCAPE}r)|(?<![\w-]r))k_(?:live|test)_[A-Za-z0-9]{{16,250}}"  # Stripe restricted keys
        rf"|A(?:(?<={ESCAPE}A)|(?<![\w-]A))(?:(?:KIA|SIA|BIA|CCA)[0-9A-Z]{{16}}"  # AWS access key ids
        r"|Iza[0-9A-Za-z_-]{35})"  # Google API keys
        # GitHub tokens
        rf"|g(?:(?<={ESCAPE}g)|(?<![\w-]g))(?:h[pousr]_[A-Za-z0-9]{{36,255}}|ithub_pat_[A-Za-z0-9_]{{22,255}})"
        rf"|x(?:(?<={ESCAPE}x)|(?<![\w-]x))ox[abposr]-[A-Za-z0-9-]{{10,250}}"  # Slack tokens
        rf"|h(?:(?<={ESCAPE}h)|(?<![\w-]h))f_[A-Za-z0-9]{{30,250}}"  # Hugging Face tokens
        r")(?![\w-])"
    ),
    "<api_key>",
    hints=("-", "_", "AKIA", "ASIA", "ABIA", "ACCA", "AIza"),
)
BEARER = Redactor(
    "api_key",
    re.compile(rf"(?:(?<={ESCAPE})|(?<![\w-]))[Bb][Ee][Aa][Rr][Ee][Rr]"
               r"\s{1,10}([A-Za-z0-9._~+/-]{16,4096}=*)(?![\w.~+/=-])"),
    "<api_key>",
    hints=("earer", "EARER"),
    group=1,
)
IPV4 = Redactor(
    "ip",
    re.compile(rf"[0-9](?:(?<={ESCAPE}[0-9])|(?<![\w.][0-9]))[0-9]{{0,2}}(?:\.[0-9]{{1,3}}){{3}}(?!\w|\.\w)"),
    "<ip>",
    check=is_ipv4,
    hints=(".",),
)
IPV6 = Redactor(
    "ip",
    re.compile(
        rf"(?:(?<={ESCAPE})|(?<![\w:.]))(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}"
        r"(?:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
        r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})?"
        r"(?![\w:]|\.\w)"
    ),
    "<ip>",
    check=is_ipv6,
    hints=(":",),
)

BUILT_IN: Mapping[str, tuple[Redactor, ...]] = {
    "email": (EMAIL,),
    "credit_card": (CREDIT_CARD,),
    "api_key": (API_KEY, BEARER),
    "ip": (IPV6, IPV4),
}
"""The built-in redactors by name (what `redact=`, `HH_REDACT` and `serve --redact` take)."""
ALL = "all"
"""Stands for every built-in redactor."""
DEFAULT_NAMES: tuple[str, ...] = tuple(BUILT_IN)
REGEX_REPLACEMENT = "<redacted>"
"""What replaces a match of a user's pattern (`--redact-regex`)."""


def redactors_named(names: Iterable[str]) -> tuple[Redactor, ...]:
    """The redactors for `names` (built-in names, or `all`), in a fixed order whatever the order given.
    ValueError names an unknown one and the choices."""
    wanted: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == ALL:
            wanted.update(BUILT_IN)
        elif name in BUILT_IN:
            wanted.add(name)
        else:
            raise ValueError(f"unknown redactor {raw!r} (choose from {', '.join(BUILT_IN)}, or {ALL})")
    return tuple(redactor for name, group in BUILT_IN.items() if name in wanted for redactor in group)


def parse_names(value: str) -> tuple[str, ...]:
    """A comma- or space-separated list of redactor names (`HH_REDACT=email,api_key`)."""
    return tuple(part for part in re.split(r"[,\s]+", value) if part)


def regex_redactor(pattern: str) -> Redactor:
    """A user's pattern: every match becomes `<redacted>`. ValueError (one line, naming the pattern and what is
    wrong with it) when it does not compile, or matches the empty string (it would "replace" between every
    character)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    if compiled.fullmatch(""):
        raise ValueError(f"bad regular expression {pattern!r}: it matches the empty string")
    return Redactor("regex", compiled, REGEX_REPLACEMENT)


def resolve(items: Iterable[str | re.Pattern[str] | Redactor]) -> tuple[Redactor, ...]:
    """Redactors from what a user gave: built-in names (or `all`), compiled patterns (replaced by `<redacted>`)
    and `Redactor`s, built-in ones first. ValueError for an unknown name or a bad pattern."""
    names: list[str] = []
    custom: list[Redactor] = []
    for item in items:
        if isinstance(item, Redactor):
            custom.append(item)
        elif isinstance(item, re.Pattern):
            if not isinstance(item.pattern, str):
                raise ValueError(f"a redactor's regular expression must be a str pattern, got {item.pattern!r}")
            if item.fullmatch(""):
                raise ValueError(f"bad regular expression {item.pattern!r}: it matches the empty string")
            custom.append(Redactor("regex", item, REGEX_REPLACEMENT))
        elif isinstance(item, str):
            names.append(item)
        else:
            raise ValueError(f"a redactor is a name ({', '.join(BUILT_IN)}, {ALL}) or a compiled regular "
                             f"expression, got {type(item).__name__}")
    return (*redactors_named(names), *custom)


def redact(text: str, redactors: Sequence[Redactor]) -> tuple[str, int]:
    """`text` through every redactor in turn, and the number of replacements."""
    total = 0
    for redactor in redactors:
        text, count = redactor.redact(text)
        total += count
    return text, total


__all__ = [
    "ALL",
    "API_KEY",
    "BEARER",
    "BUILT_IN",
    "CARD_FIRST_DIGITS",
    "CREDIT_CARD",
    "DEFAULT_NAMES",
    "EMAIL",
    "IPV4",
    "IPV6",
    "REGEX_REPLACEMENT",
    "Redactor",
    "has_card_digits",
    "is_card_number",
    "is_ipv4",
    "is_ipv6",
    "luhn_valid",
    "parse_names",
    "redact",
    "redactors_named",
    "regex_redactor",
    "resolve",
]
