"""The documents cannot drift from the program: the config reference is regenerated from the
schemas, and every `$ command` shown with its output in README.md and docs/ is run and compared.

Markers, an HTML comment on the line right before a fenced block:
- `<!-- doc-test: skip REASON -->`: not run (it needs a live network, root, systemd...);
- `<!-- doc-test: shape -->`: every number in the shown output stands for any number (a
  simulated temperature, an alert id, a time);
- `<!-- doc-test: config -->`: a ```toml block that is a whole config file: it must validate.
In any shown output, `…` stands for any text within a line (a path, a link's token).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops import config_doc
from chatops.config import parse_settings
from chatops.testing import REPO, write_demo_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
REGENERATE = f"regenerate it with:  {config_doc.COMMAND}"
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Block:
    """A fenced block of a document, with the doc-test marker written before it."""

    doc: Path
    line: int
    lang: str
    body: list[str]
    marker: str
    reason: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    found = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match:
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            marker = MARKER.match(lines[index - 1]) if index else None
            found.append(Block(doc, index + 1, match.group(1), lines[index + 1:end],
                               marker.group(1) if marker else "", marker.group(2) if marker else ""))
            index = end
        index += 1
    return found


@dataclass(frozen=True)
class Shown:
    """One `$ command` of a document and the output shown under it."""

    block: Block
    command: str
    output: list[str]
    before: tuple[str, ...]          # the block's earlier commands, run first in the same folder

    def __str__(self) -> str:
        return f"{self.block.where}: $ {self.command}"


def shown_commands() -> list[Shown]:
    shown = []
    for doc in DOCS:
        for block in blocks(doc):
            if block.lang not in ("", "text", "sh", "console") or block.marker == "skip":
                continue
            starts = [i for i, line in enumerate(block.body) if line.startswith("$ ")]
            for n, start in enumerate(starts):
                stop = starts[n + 1] if n + 1 < len(starts) else len(block.body)
                shown.append(Shown(block, block.body[start][2:], block.body[start + 1:stop],
                                   tuple(block.body[i][2:] for i in starts[:n])))
    return shown


def line_pattern(expected: str, shape: bool) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(…)", expected):
        if piece == "…":
            parts.append(".*")
        elif shape:
            parts.append(_numbers_any(piece))
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def _numbers_any(piece: str) -> str:
    out, last = [], 0
    for match in NUMBER.finditer(piece):
        out += [re.escape(piece[last:match.start()]), r"\d+(?:[.,]\d+)*"]
        last = match.end()
    return "".join(out + [re.escape(piece[last:])])


def differences(expected: list[str], actual: list[str], shape: bool) -> list[str]:
    """Lines where the program's output differs from the document (empty: they agree). A line
    that is only `…` stands for any number of lines."""
    if "…" in expected:
        whole = "".join("(?:.*\n)*?" if line == "…" else line_pattern(line, shape).pattern + "\n"
                          for line in expected)
        if re.fullmatch(whole, "".join(line + "\n" for line in actual)):
            return []
        return ["  the document shows (… = any lines):", *(f"    {line}" for line in expected),
                "  the program printed:", *(f"    {line}" for line in actual)]
    problems = []
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else None
        got = actual[index] if index < len(actual) else None
        if want is None or got is None or not line_pattern(want, shape).fullmatch(got):
            problems.append(f"  line {index + 1}: the document shows {want!r}, the program printed {got!r}")
    return problems


# --- the config reference --------------------------------------------------------------------------

def test_configuration_md_is_what_the_schemas_generate() -> None:
    doc = ROOT / "docs" / "configuration.md"
    generated = config_doc.render()
    current = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if current != generated:
        old, new = current.splitlines(), generated.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        pytest.fail(f"docs/configuration.md differs from the config schemas (first difference at line "
                    f"{first + 1}: document {old[first] if first < len(old) else None!r}, schemas "
                    f"{new[first] if first < len(new) else None!r}); {REGENERATE}", pytrace=False)


def test_every_config_key_has_a_description() -> None:
    missing = config_doc.undescribed()
    assert not missing, (
        f"config keys with no description: {', '.join(missing)}. Add each to DESCRIPTIONS in "
        f"chatops/config_doc.py (or give its Field a description=...), then {REGENERATE}")


def test_a_key_without_description_is_reported_by_its_path() -> None:
    tables = config_doc.collect()
    stripped = [config_doc.Table(t.path, t.header, tuple(
        k if k.path != "hub.name" else config_doc.Key(k.path, k.key, k.type, k.default, None) for k in t.keys),
        t.description) for t in tables]
    assert set(config_doc.undescribed(stripped)) - set(config_doc.undescribed(tables)) == {"hub.name"}
    assert "| `name` | string | `\"maison\"` | **undescribed** |" in config_doc.render(stripped)


def test_the_reference_shows_type_default_and_required_keys() -> None:
    text = config_doc.render()
    assert "| `handler_timeout` | duration | `\"30s\"` |" in text
    assert "| `host` | string | *required* | server name |" in text          # [adapters.irc]
    assert "| `topic` (or `state_topic`) | string | none |" in text          # an alias is shown
    for section in ("`[hub]`", "`[[alerts]]`", "`[devices.NAME]`", "`[adapters.sms]`", "`[roles]`"):
        assert f"## {section}" in text or f"### {section}" in text


# --- whole config files shown in documents -----------------------------------------------------------

CONFIGS = [b for doc in DOCS for b in blocks(doc) if b.marker == "config"]


@pytest.mark.parametrize("block", CONFIGS, ids=lambda b: b.where)
def test_a_config_shown_whole_is_valid(block: Block, tmp_path: Path) -> None:
    raw = tomllib.loads("\n".join(block.body))
    parse_settings(raw, tmp_path)


def test_the_readme_shows_a_whole_config() -> None:
    assert [b.doc.name for b in CONFIGS].count("README.md") == 1


# --- commands shown with their output ----------------------------------------------------------------

SHOWN = shown_commands()


def test_the_matcher_sees_a_wrong_output() -> None:
    assert differences(["salon: 20.9 °C"], ["salon: 21.3 °C"], shape=True) == []
    assert differences(["salon: 20.9 °C"], ["salon: 21.3 °C"], shape=False)
    assert differences(["heater is ON"], ["heater is OFF"], shape=True)
    assert differences(["  [image] …/entree-….jpg"], ["  [image] /tmp/x/entree-1.jpg"], shape=False) == []
    assert differences(["a"], ["a", "WARNING amqtt: 1 messages not broadcasted"], shape=True)
    assert differences(["devices (…):", "…", "users (1):"], ["devices (8):", "a", "b", "users (1):"], False) == []
    assert differences(["devices (…):", "…", "users (1):"], ["devices (8):", "users (2):"], False)
    assert differences(["a", "…"], ["a"], False) == [] and differences(["a", "…"], ["b"], False)


def test_the_documents_show_commands_to_run() -> None:
    assert any(s.block.doc.name == "README.md" for s in SHOWN)
    assert any("chatops check" in s.command for s in SHOWN)


def test_scripts_demo_runs_the_shipped_config() -> None:
    """The documents' `scripts/demo ARGS` is run as what the script executes once .venv exists."""
    assert (ROOT / "scripts" / "demo").read_text().rstrip().endswith(
        'exec .venv/bin/chatops run --config config.toml "$@"')


@pytest.mark.parametrize("shown", SHOWN, ids=str)
def test_a_command_shown_prints_what_the_document_shows(shown: Shown, tmp_path: Path) -> None:
    write_demo_config(tmp_path)                                  # free ports, a private data dir
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="200")
    env.pop("PYTHONWARNINGS", None)
    for command in (*shown.before, shown.command):
        command = re.sub(r"(^|\|\s*)scripts/demo\b", r"\1chatops run --config config.toml", command)
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    printed = result.stdout.decode("utf-8", "replace").splitlines()
    problems = differences(shown.output, printed, shown.block.marker == "shape")
    where = ("the document (docs/configuration.md is generated: edit INTRO in chatops/config_doc.py, then "
             f"{config_doc.COMMAND})" if shown.block.doc.name == "configuration.md" else "the document")
    assert not problems, (f"{shown} no longer prints what the document shows (exit {result.returncode}):\n"
                          + "\n".join(problems) + f"\nfix the program or {where}; mark a block that "
                          "needs a live network with <!-- doc-test: skip REASON -->")


def test_a_table_inside_a_section_is_documented_with_its_own_header() -> None:
    """A key added as a sub-table ([mqtt.discovery]) or a list of tables (IRC channels) has its
    keys documented too, so they are held to a description like any other."""
    from chatops.schema import Field

    from chatops.config import Section

    class Inner(Section):
        publish: bool = Field(True, description="publish it")

    class Outer(Section):
        discovery: Inner = Inner()
        many: list[Inner] = Field(default_factory=list)

    tables = config_doc._tables(Outer, "mqtt", "[mqtt]")
    assert [(t.header, [k.path for k in t.keys]) for t in tables] == [
        ("[mqtt]", ["mqtt.discovery", "mqtt.many"]),
        ("[mqtt.discovery]", ["mqtt.discovery.publish"]),
        ("[mqtt] `many` entries", ["mqtt.many.publish"])]
    assert config_doc.undescribed(tables) == ["mqtt.discovery", "mqtt.many"]


def test_the_imports_python_examples_show_exist() -> None:
    # A Python example a user copies must at least import: its `from X import Y` lines are run.
    imports = [(block.where, line.strip()) for doc in DOCS for block in blocks(doc) if block.lang == "python"
               for line in block.body if re.match(r"\s*(from \S+ )?import ", line)]
    assert imports, "the documents show Python examples"
    for where, line in imports:
        try:
            exec(line, {})
        except ImportError as exc:
            raise AssertionError(f"{where}: {line}: {exc}") from None


def test_the_reference_is_not_written_half_without_every_networks_library(tmp_path: Path) -> None:
    # Regenerating docs/configuration.md where a network's settings cannot be imported (a plugin's
    # that needs its library) must leave the file as it was. Slack's settings no longer need
    # slack_sdk (they moved to adapters/slack_settings.py): a missing module stands in for it.
    target = tmp_path / "configuration.md"
    target.write_text("as before", encoding="utf-8")
    run = ("import sys; sys.modules['adapters.slack_settings'] = None; from chatops.config_doc import main; "
           "raise SystemExit(main())")
    result = subprocess.run([sys.executable, "-c", run, str(target)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "pip install -e '.[all]'" in result.stderr
    assert target.read_text(encoding="utf-8") == "as before"


SHELL = ("sh", "bash", "shell", "console")


def unmarked_shell_blocks() -> list[str]:
    """Shell blocks that are neither run (`$ command` lines with their output) nor marked
    `<!-- doc-test: skip REASON -->` with the reason they cannot be."""
    return [block.where for doc in DOCS for block in blocks(doc)
            if block.lang in SHELL and block.marker != "skip"
            and not any(line.startswith("$ ") for line in block.body)]


def test_every_shell_block_is_run_or_says_why_not() -> None:
    assert unmarked_shell_blocks() == [], ("show these commands as `$ command` with their output, so a test runs "
                                           "them, or mark the block <!-- doc-test: skip REASON -->")


def test_a_skip_says_why() -> None:
    assert [block.where for doc in DOCS for block in blocks(doc) if block.marker == "skip" and not block.reason] == []


# --- the README's table of what to say ---------------------------------------------------------------

def said_and_answered() -> list[tuple[str, str]]:
    """(first command, first answer) of each row of the README's "What you can say to it" whose
    answer starts with a literal (`salon: 20.9 °C`): what a new user tries first."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## What you can say to it", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines()[2:]:
        said, answer = line.strip("|").split("|")[:2]
        commands, literal = re.findall(r"`([^`]+)`", said), re.match(r"\s*`([^`]+)`", answer)
        if commands and literal:
            rows.append((commands[-1] if commands[0].startswith("!") else commands[0], literal.group(1)))
    return rows


def test_the_readme_table_answers_are_what_the_demo_says(tmp_path: Path) -> None:
    rows = said_and_answered()
    assert [said for said, _ in rows][:3] == ["temp salon", "chauffage on", "lampe 40%"]
    config = write_demo_config(tmp_path)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                            cwd=tmp_path, env=env, input="".join(f"{said}\n" for said, _ in rows),
                            capture_output=True, text=True, timeout=120)
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    for said, answer in rows:
        assert any(line_pattern(answer, True).fullmatch(line) for line in printed), (said, answer, printed)


def test_the_readmes_systemd_lines_are_the_units() -> None:
    """The README shows the heart of the unit; deploy.md has the whole of it: they cannot differ."""
    def ini_lines(path: Path) -> set[str]:
        blocks = re.findall(r"```ini\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
        return {line.strip() for block in blocks for line in block.splitlines()
                if line.strip() and not line.strip().startswith("#")}
    readme = ini_lines(ROOT / "README.md")
    assert {"Type=notify", "WatchdogSec=30s"} <= readme
    assert readme - ini_lines(ROOT / "docs" / "deploy.md") == set()


def test_the_reference_generator_answers_help_without_writing_a_file(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "chatops.config_doc", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode == 0 and out.stdout.startswith("usage: python -m chatops.config_doc"), out.stderr
    assert list(tmp_path.iterdir()) == [], "no file named --help"


def test_every_test_security_md_names_exists() -> None:
    """SECURITY.md's rows name the tests of their defences: each named test is in its file."""
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) > 20, named
    missing = [f"{path}::{name}" for path, name in named
               if not re.search(rf"^(async )?def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.M)]
    assert missing == []


def test_the_plugin_packaging_recipe_is_the_example_plugins() -> None:
    """docs/plugins.md tells how to ship a catalogue; the example plugin is built by scripts/test
    with it. `packages = [...]` alone made setuptools warn that the locale folders were ignored."""
    example = tomllib.loads((ROOT / "tests/plugins/chatops-tcplines/pyproject.toml").read_text(encoding="utf-8"))
    package = "chatops_tcplines"
    setuptools = example["tool"]["setuptools"]
    assert "packages" not in setuptools or isinstance(setuptools["packages"], dict)
    include, data = setuptools["packages"]["find"]["include"], setuptools["package-data"][package]
    doc = " ".join((ROOT / "docs/plugins.md").read_text(encoding="utf-8").split())

    def shown(value: list[str]) -> str:
        return repr(value).replace("'", '"').replace(package, "YOURPACKAGE")
    assert f"`[tool.setuptools.packages.find] include = {shown(include)}`" in doc
    assert f"`[tool.setuptools.package-data] YOURPACKAGE = {shown(data)}`" in doc
