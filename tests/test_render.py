"""The one text cutter and picture linker every adapter uses (chatops.render)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from chatops.message import Attachment
from chatops.render import image_link, split_text, utf8_size


def test_short_text_is_one_piece_and_empty_text_none() -> None:
    assert split_text("salon: 20.5 °C", 4000) == ["salon: 20.5 °C"]
    assert split_text("", 10) == [] and split_text("\n\n", 10) == []


def test_cuts_at_line_ends_then_spaces_then_characters() -> None:
    lines = "\n".join(f"line {i}" for i in range(100))
    pieces = split_text(lines, 200)
    assert all(len(p) <= 200 for p in pieces) and "\n".join(pieces).split("\n") == lines.split("\n")
    assert split_text("the quick brown fox jumps over the lazy dog", 10) == \
        ["the quick", "brown fox", "jumps over", "the lazy", "dog"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_measured_in_bytes_a_character_is_never_cut() -> None:
    pieces = split_text("é" * 20, 11, utf8_size)
    assert all(utf8_size(p) <= 11 for p in pieces) and "".join(pieces) == "é" * 20
    accented = "e\u0301" * 6                  # e + combining acute: never separated
    assert all(not p[0] == "\u0301" for p in split_text(accented, 5))


def test_a_limit_without_room_is_an_error() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)


def test_pictures_become_their_url_or_an_expiring_link(tmp_path: Path) -> None:
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(b"\xff\xd8")
    web = SimpleNamespace(links=SimpleNamespace(publish=lambda path, mime: f"http://hub/files/t/{path.name}"))
    assert image_link(web, Attachment(picture, "image/jpeg")) == "http://hub/files/t/snap.jpg"
    assert image_link(None, Attachment(picture, url="https://example.org/g.png")) == "https://example.org/g.png"
    assert image_link(None, Attachment(picture, "image/jpeg")) is None
