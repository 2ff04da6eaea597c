"""What the documents tell people to say is understood by the hub.

Chat lines shown in README.md and docs/ are run through a demo hub (the shipped config, its
simulated house on a real mosquitto), as its owner, in English or in French, and none may get
the answers of a line the hub did not understand: unknown command, usage, a word a device does
not take, a failed handler. Where they are taken from:
- the first column of a table headed `you send` or `you say`: each `code` span in it;
- a fenced block marked `<!-- doc-test: chat -->`: one line per row, the chat line first, then
  after two spaces or more what it does; `<!-- doc-test: chat grid -->`: every cell (two
  spaces or more apart) is a chat line; `<!-- doc-test: chat fr -->` and `chat grid fr`: said
  by a person whose `language = "fr"`.
A line holding a placeholder (an upper-case word such as `ID`, `[optional]`, `…`) is not run:
it is a pattern, not something to type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for
from tests.test_docs import DOCS, ROOT, blocks

pytestmark = pytest.mark.servers

# What the hub answers to a line it did not take (the router's and binder's own phrases).
NOT_UNDERSTOOD = re.compile(
    r"Unknown command|Commande inconnue|Usage ?:|does not take|ne prend pas|is not a command|n'est pas une commande"
    r"|Missing |Il manque|must be one of|Say .+, not '|Dites .+, pas|doit être|must be a number|Too many arguments|Trop d'arguments"
    r"|Sorry, .* failed|Désolé|took longer than|a pris plus de|is not a day|n'est pas un jour|I do not understand"
    r"|Je ne comprends pas|is in the past|est déjà passé")        # a date shown must stay ahead
PLACEHOLDER = re.compile(r"\b[A-ZÉ]{2,}\b|\[|…|\.\.\.")
TABLE_HEADS = ("you send", "you say")


@dataclass(frozen=True)
class Said:
    where: str
    text: str
    french: bool

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def _table_lines(doc: Path) -> list[Said]:
    said, in_table = [], False
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0].lower() in TABLE_HEADS:
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            said += [Said(f"{doc.relative_to(ROOT)}:{number}", text.removeprefix("!"), False)
                     for text in re.findall(r"`([^`]+)`", cells[0])]
    return said


def _block_lines(doc: Path) -> list[Said]:
    said = []
    for block in blocks(doc):
        if block.marker != "chat":
            continue
        options = block.reason.split()
        for offset, row in enumerate(block.body, 1):
            cells = [cell for cell in re.split(r"\s{2,}", row.strip()) if cell]
            for text in cells if "grid" in options else cells[:1]:
                said.append(Said(f"{block.where}+{offset}", text.removeprefix("!"), "fr" in options))
    return said


def documented_lines() -> list[Said]:
    return [s for doc in DOCS for s in (*_table_lines(doc), *_block_lines(doc)) if not PLACEHOLDER.search(s.text)]


def test_the_documents_show_chat_lines_in_both_languages() -> None:
    lines = documented_lines()
    assert len([s for s in lines if not s.french]) >= 30 and len([s for s in lines if s.french]) >= 20
    assert {"temp salon", "chauffage on for 2h", "lampe 40%", "dans 10m photo entree"} <= {s.text for s in lines}


def test_a_placeholder_is_not_run_and_a_cell_is_not_a_description() -> None:
    assert PLACEHOLDER.search("cancel ID") and PLACEHOLDER.search("ack [ID]") and PLACEHOLDER.search("à 7h demain …")
    assert not PLACEHOLDER.search("every weekday at 06:30 chauffage on")
    assert NOT_UNDERSTOOD.search("Unknown command 'tmep'. Did you mean temp?")
    assert not NOT_UNDERSTOOD.search("heater is ON")


async def test_every_documented_chat_line_is_understood(tmp_path: Path, mosquitto: Mosquitto) -> None:
    users = {"owner": {"roles": ["admin"], "console": ["owner"]},
             "alice": {"roles": ["admin"], "console": ["alice"], "language": "fr"}}
    settings = settings_for(tmp_path / "data", mosquitto.url, users=users, web={"user": None})
    not_understood = []
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: all(d.reading is not None for d in hub.home.devices.values()
                                   if d.type.name in ("SENSOR", "SWITCH", "LIGHT", "CLIMATE", "COVER")), timeout=20)
        for said in documented_lines():
            answer = await exec_command(hub, said.text, sender="alice" if said.french else "owner")
            if not answer or NOT_UNDERSTOOD.search(answer):
                not_understood.append(f"{said}\n    -> {answer!r}")
    assert not_understood == [], "the documents show lines the hub does not take:\n" + "\n".join(not_understood)
