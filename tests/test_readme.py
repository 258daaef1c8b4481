"""The README's generated parts match the code."""

from __future__ import annotations

from pathlib import Path

from otel_honeyhive.mapper.doc import generated, section_of

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_mapping_table_in_the_readme_is_generated_from_the_rule_tables() -> None:
    assert section_of(README.read_text(encoding="utf-8")) == generated(), (
        "README.md is out of date: run `python -m otel_honeyhive.mapper.doc --write README.md`"
    )
