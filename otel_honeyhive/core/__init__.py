"""The vocabulary every layer speaks: events, spans as inputs hand them on, what became of a hand-off, and the
seams between layers (`Sink`, `Output`). Imports nothing else of the package (docs/architecture.md)."""
