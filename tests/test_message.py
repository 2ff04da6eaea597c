"""Reply text is made safe once, for every network."""

from __future__ import annotations

import pytest

from chatops.message import Reply


@pytest.mark.parametrize(("given", "shown"), [
    ("salon: 21.5 °C", "salon: 21.5 °C"),
    ("open\x07door", "opendoor"),                          # BEL: not allowed in XML, rings terminals
    ("evil\u202etxt.exe", "eviltxt.exe"),                  # a right-to-left override reverses what follows
    ("a\u2066b\u2069c", "abc"),                            # bidi isolates
    ("line one\r\nline two\x00", "line one\nline two"),    # CR and NUL never reach IRC framing
    ("one\rtwo", "one\ntwo"),                              # a lone CR is still a line break
    ("famille 👨\u200d👩\u200d👧 et tab\tici", "famille 👨\u200d👩\u200d👧 et tab\tici"),   # ZWJ emoji, tab kept
    ("\ud800lone surrogate \uffff", "lone surrogate "),
])
def test_reply_text_is_cleaned(given: str, shown: str) -> None:
    assert Reply(given).text == shown


async def test_a_console_notice_of_several_lines_cannot_pass_for_two_notices() -> None:
    """A notification's text `washer done\\n[CRITICAL] Smoke!` showed as two console lines, the
    second a notice of its own to the eye: its later lines are indented under the `! `."""
    import io

    from adapters.console import Adapter, Settings
    from chatops.message import Address, Reply
    out = io.StringIO()
    console = Adapter("console", Settings(), stdin=io.StringIO(), stdout=out)
    await console.send(Address("console", "root"), Reply("washer done\n[CRITICAL] Smoke!", notice=True))
    await console.send(Address("console", "root"), Reply("salon: 21 °C\nchambre: 19 °C"))
    assert out.getvalue().splitlines() == ["! washer done", "  [CRITICAL] Smoke!", "salon: 21 °C", "chambre: 19 °C"]
