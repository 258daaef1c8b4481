"""Tests of the span layer (views, codec)."""
