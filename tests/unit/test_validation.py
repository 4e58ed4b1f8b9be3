"""The shared input checks: control characters, and errors that quote what they refuse briefly."""

from __future__ import annotations

import pytest

from mesh.validation import has_control_characters, quoted


@pytest.mark.parametrize("text", ["a\x00", "\x1b[31m", "a\rb", "\x0b"])
def test_control_characters_are_found(text):
    assert has_control_characters(text)


@pytest.mark.parametrize("text", ["", "MG Road\n2nd floor", "a\tb", "नमस्ते", "emoji 🚚"])
def test_tab_newline_and_any_printable_text_are_fine(text):
    assert not has_control_characters(text)


def test_quoted_keeps_short_values_whole_and_cuts_long_ones():
    assert quoted("R-17") == "'R-17'"
    assert quoted("x" * 100_000) == f"'{'x' * 39}... (100000 characters)"
