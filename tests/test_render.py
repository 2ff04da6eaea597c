"""The one text cutter and picture linker every adapter uses (chatops.render)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from chatops.adapter import Capabilities
from chatops.message import Attachment, Button, Reply
from chatops.render import NO_LINK, fit, image_link, split_text, utf8_size


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


def test_pictures_become_their_url_or_an_expiring_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from chatops.web import LinkStore
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(b"\xff\xd8")
    web = SimpleNamespace(links=LinkStore("http://hub.lan:8080", 3600))
    assert re.fullmatch(r"http://hub\.lan:8080/files/[\w-]+/snap\.jpg", image_link(web, Attachment(picture, "image/jpeg")) or "")
    assert image_link(None, Attachment(picture, url="https://example.org/g.png")) == "https://example.org/g.png"
    assert image_link(None, Attachment(picture, "image/jpeg")) is None
    assert "opens on this machine only" not in caplog.text
    # No public_url, a loopback listen: the first link sent to a chat network says so, once.
    web = SimpleNamespace(links=LinkStore("http://127.0.0.1:8080", 3600, local_only=True))
    assert (image_link(web, Attachment(picture, "image/jpeg")) or "").startswith("http://127.0.0.1:8080/files/")
    image_link(web, Attachment(picture, "image/jpeg"))
    assert caplog.text.count("which opens on this machine only: set [web] public_url") == 1


def test_the_core_fits_a_reply_to_the_network(tmp_path: Path) -> None:
    """Every way out goes through render.fit: a network without pictures gets links in the text;
    a long text goes as pieces within max_text, pictures with the first and buttons with the
    last; a network where each message costs (SMS) gets one message cut short."""
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(b"\xff\xd8")
    graph = Attachment(picture, url="https://example.org/g.png", name="graph salon")
    button = Button("Ack", "ack 1")
    reply = Reply("salon: 20.5 °C", (graph,), buttons=(button,))
    irc = Capabilities(max_text=4000, images=False)
    (linked,) = fit(reply, irc, None)
    assert linked.text == "salon: 20.5 °C\ngraph salon: https://example.org/g.png" and linked.attachments == ()
    (unlinked,) = fit(Reply("x", (Attachment(picture),)), irc, None)     # no URL and no web server: said so
    assert unlinked.text == "x\nsnap.jpg: " + NO_LINK
    assert fit(reply, Capabilities(images=True), None) == [reply]                # fits: untouched
    long = Reply("\n".join(f"line {n}" for n in range(100)), (graph,), buttons=(button,))
    pieces = fit(long, Capabilities(max_text=100, images=True), None)
    assert len(pieces) > 5 and all(len(p.text) <= 100 for p in pieces)
    assert "\n".join(p.text for p in pieces) == long.text
    assert pieces[0].attachments == (graph,) and all(not p.attachments for p in pieces[1:])
    assert pieces[-1].buttons == (button,) and all(not p.buttons for p in pieces[:-1])
    (cut,) = fit(long, Capabilities(max_text=100, cut_long_text=True), None)
    assert len(cut.text) <= 100 and cut.text.endswith(" …") and cut.text.startswith("line 0\nline 1")
    assert len(cut.text) >= 95, "filled to the limit: each SMS costs"
    # Measured as the network measures: 50 bytes hold 23 two-byte characters and the 4-byte mark.
    utf8 = Capabilities(max_text=50, size=lambda text: len(text.encode()), cut_long_text=True)
    (cut,) = fit(Reply("é" * 100), utf8, None)
    assert cut.text == "é" * 23 + " …" and len(cut.text.encode()) <= 50


def test_a_network_that_counts_otherwise_is_cut_once_by_its_measure() -> None:
    """Slack counts its limit once `&`, `<` and `>` are escaped: the core cut at 4,000 raw
    characters and the adapter again, which left stray 400-character messages between."""
    from adapters.slack import MAX_TEXT, escaped_size, split_text as slack_split
    text = "\n".join(f"line {i}: a & b < c > d" for i in range(400))
    slack = Capabilities(max_text=MAX_TEXT, size=escaped_size)
    pieces = fit(Reply(text), slack, None)
    assert all(escaped_size(p.text) <= MAX_TEXT for p in pieces)
    assert [slack_split(p.text) for p in pieces] == [[slack_split(p.text)[0]] for p in pieces], "no second cut"
    assert len(pieces) <= escaped_size(text) // MAX_TEXT + 2        # cut at line ends: a little under full
