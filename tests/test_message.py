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
