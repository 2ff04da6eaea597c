"""docs/configuration.md, generated from the config schemas: every key, its type and default.

The schemas (chatops.config and each built-in adapter's `Settings`) say which keys exist; what
they mean for a person is kept here, in DESCRIPTIONS, so the reference never lists a key nobody
explained. tests/test_docs.py fails when the document differs from what this module prints, or
when a key has no description. Regenerate with:

    .venv/bin/python -m chatops.config_doc docs/configuration.md
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .schema import MISSING, FieldInfo, Model

from .config import Settings, UserSettings, adapter_schema
from .networks import Network, networks
from .durations import format_duration, parse_duration

COMMAND = ".venv/bin/python -m chatops.config_doc docs/configuration.md"

# What each key means, by key path. NAME stands for a name you choose ([users.alice] is users.NAME);
# [[alerts]] rules are `alerts.KEY`; `adapters.*.KEY` describes a key every adapter section has.
# A Field(description=...) in the schema is used when a key is not listed here: each network describes its
# own [adapters.NAME] keys that way, and its section and identities in its `Network` (`about`, `identities`).
DESCRIPTIONS: dict[str, str] = {
    # sections
    "hub": "Who the hub is and how it answers.",
    "mqtt": "The one MQTT connection to your devices.",
    "web": "The web server: dashboard, web chat, `/health`, picture links.",
    "simulator": "A simulated house on the broker (the demo): sensors, a heater, a smoke detector, a camera.",
    "history": "Readings kept in SQLite for `history`, `graph` and the dashboard's charts.",
    "roles": "Role = list of command names or other roles; `\"*\"` is every command.",
    "users": "One table per person: roles, and the identities that are this person on each network.",
    "devices": "One table per device. See [devices.md](devices.md) for Zigbee2MQTT, Tasmota and cameras.",
    "alerts": "One `[[alerts]]` table per rule. See [alerts.md](alerts.md).",
    "adapters": "One section per network; `[[adapters.NAME]]` tables (each with its `name`) for several.",
    # [hub]
    "hub.name": "what people address in rooms (`maison: temp`); the default nick",
    "hub.prefix": "commands in rooms start with it (`!temp`)",
    "hub.data_dir": "SQLite database, snapshots and graphs; relative to the config file's folder "
                    "(a service wants an absolute path)",
    "hub.default_role": "role of senders no `[users]` entry matches",
    "hub.handler_timeout": "a command running longer is stopped",
    "hub.max_reply_chars": "longer replies are cut",
    # [mqtt]
    "mqtt.url": "`\"embedded\"` (a broker inside the hub), `\"mqtt://host:1883\"` or `\"mqtts://host:8883\"`",
    "mqtt.username": "broker account",
    "mqtt.password_env": "environment variable holding the broker password",
    "mqtt.password_file": "file holding the broker password (chmod 600)",
    "mqtt.ca_file": "PEM file of a private authority for `mqtts` (relative to the config file), checked at start",
    "mqtt.client_id": "default `chatops-NAME-PID`, new at every start; fix one if your broker's ACLs name clients",
    "mqtt.keepalive": "seconds between keepalive pings",
    "mqtt.backoff_max": "longest wait between reconnects",
    "mqtt.embedded_listen": "where the embedded broker listens: loopback only; it lets in the hub's own login only (`chatops`, or `username`, with the secret it keeps in `data_dir/embedded-broker.secret`)",
    "mqtt.max_payload": "bytes; larger messages are dropped",
    "mqtt.discovery_publish": "announce the hub to Home Assistant as a device (alerts, adapters, an "
                              "acknowledge button); see [home-assistant.md](home-assistant.md)",
    "mqtt.discovery_prefix": "Home Assistant's discovery prefix: where devices are read and the hub is announced",
    "mqtt.discovery_ack_user": "the user whose `ack` the acknowledge button runs (no button without it)",
    # [web]
    "web.enabled": "`false`: no dashboard, web chat, `/health` or picture links, and aiohttp is not loaded",
    "web.listen": "HOST:PORT",
    "web.token_env": "environment variable holding the access token (required unless loopback)",
    "web.token_file": "file holding the access token (required unless loopback)",
    "web.metrics_token_env": "environment variable holding a token for `/metrics` alone "
                             "(see [metrics.md](metrics.md))",
    "web.metrics_token_file": "file holding a token for `/metrics` alone",
    "web.public_url": "base of the links sent in chat, when people open them from outside",
    "web.link_ttl": "how long picture links work",
    "web.notify_tokens.token_env": "environment variable holding this script's token for `/api/notify` "
                                   "(see [notify.md](notify.md))",
    "web.notify_tokens.token_file": "file holding this script's token for `/api/notify`",
    # [notify]
    "notify": "Messages in from scripts, MQTT and monitoring webhooks. See [notify.md](notify.md).",
    "notify.topics": "One `[[notify.topics]]` table per MQTT topic whose messages become notifications.",
    "notify.topics.topic": "MQTT topic (filter) to listen on",
    "notify.topics.message": "text, with `{field}` (a dotted path into the payload's JSON, e.g. `{after.label}`) "
                             "and the alert placeholders `{time}`, `{severity}`, `{topic}`",
    "notify.topics.to": "user names or addresses; empty: `[notify] default_to`",
    "notify.topics.severity": "`info`, `warning` or `critical`",
    "notify.topics.image_url": "a picture to fetch and attach, with the same `{field}` placeholders",
    "notify.topics.ack": "`true`: repeats until acknowledged, as an alert",
    # [simulator]
    "simulator.enabled": "the shipped config.toml turns it on",
    "simulator.interval": "time between two readings of each simulated sensor",
    "simulator.base_topic": "the simulated devices publish as Zigbee2MQTT does, under this topic",
    # [history]
    "history.enabled": "keep readings",
    "history.raw_retention": "every reading as it came, kept this long",
    "history.rollup_interval": "then one average/min/max per interval (at least 10 s)",
    "history.rollup_retention": "averages kept this long (`\"0s\"`: none)",
    "history.flush_interval": "readings are written in batches this often (at most 60 s)",
    "history.flush_batch": "...or every this many readings",
    # [roles]
    "roles.NAME": "commands and roles this role may use",
    # [users.NAME]
    "users.NAME.roles": "roles of this person",
    "plugins.NAME": "the keys the plugin declares (its own schema, checked like the rest)",
    "plugins": "One table per command plugin that declares a config schema, `[plugins.NAME]`; see "
               "[plugins.md](plugins.md).",
    "users.NAME.pin_env": "environment variable holding this person's PIN word, asked first on the networks "
                          "whose senders can be forged (a phone number)",
    "users.NAME.pin_file": "file holding this person's PIN word",
    # [devices.NAME]
    "devices.NAME.type": "what the device is: sensor, binary_sensor, switch, camera, light, climate, cover, "
                         "number, select",
    "devices.NAME.min": "lowest value a light (%), thermostat (°), cover (%) or number takes; none: 0 "
                        "(a thermostat: 5), or what discovery announced",
    "devices.NAME.max": "highest value it takes; none: 100 (a thermostat: 30)",
    "devices.NAME.step": "values are rounded to this step; none: 1 (a thermostat: 0.5)",
    "devices.NAME.options": "a select's values",
    "devices.NAME.modes": "a thermostat's modes (Tasmota's driver: off and heat only)",
    "devices.NAME.brightness_scale": "a light's full brightness in its payloads (Zigbee2MQTT: 254)",
    "devices.NAME.topic": "MQTT state topic",
    "devices.NAME.command_topic": "where commands are published (Tasmota: the cmnd/<topic> prefix)",
    "devices.NAME.value": "dotted path into a JSON payload; omit for a raw payload",
    "devices.NAME.unit": "shown after the value",
    "devices.NAME.label": "name shown to people (default: the table's name)",
    "devices.NAME.aliases": "other names, in any language",
    "devices.NAME.payload_on": "published to switch on",
    "devices.NAME.payload_off": "published to switch off",
    "devices.NAME.payload_open": "cover: published on its `command_topics` state topic to open",
    "devices.NAME.payload_close": "cover: published there to close",
    "devices.NAME.payload_stop": "cover: published on its `command_topics` stop topic to stop",
    "devices.NAME.state_on": "values read as on",
    "devices.NAME.get_topic": "where to ask a silent sensor for a reading",
    "devices.NAME.get_payload": "what to publish there",
    "devices.NAME.stale_after": "a reading older than this is shown as stale",
    "devices.NAME.confirm_timeout": "how long a switch waits for its state topic to confirm (at most 120 s)",
    "devices.NAME.snapshot_url": "camera: HTTP URL of a JPEG",
    "devices.NAME.snapshot_topic": "camera: MQTT topic carrying a JPEG (Frigate, ESP32-CAM)",
    "devices.NAME.username": "camera: HTTP account",
    "devices.NAME.password_env": "camera: environment variable holding the HTTP password",
    "devices.NAME.password_file": "camera: file holding the HTTP password",
    "devices.NAME.auth": "camera: `auto` answers whatever scheme the camera asks for",
    "devices.NAME.snapshot_timeout": "camera: longest wait for a picture (at most 120 s)",
    "devices.NAME.snapshot_max_bytes": "camera: largest picture accepted",
    "devices.NAME.simulated": "camera: a generated picture (no hardware)",
    # [[alerts]]
    "alerts.name": "the rule's name (`mute NAME 30m`, `chatops/HUB/alerts/NAME` on MQTT)",
    "alerts.device": "the device watched",
    "alerts.when": "`on`, `off`, `\"> 30\"`, `\"< 5\"`, `\"= open\"`, `changed`, `\"offline 10m\"`",
    "alerts.message": "template; fields `{device}` `{value}` `{unit}` `{time}` `{rule}` `{severity}`",
    "alerts.cleared": "sent when the condition ends (same fields)",
    "alerts.severity": "critical alerts repeat every 5 min by default",
    "alerts.repeat": "remind until acknowledged (none; `\"5m\"` for critical)",
    "alerts.cooldown": "clears only after this long without the condition",
    "alerts.snapshot": "a camera whose picture rides with the alert",
    # [[automations]]
    "automations": "One `[[automations]]` table per rule: when a device condition holds, or at a time, "
                   "run commands as their owner. See [automations.md](automations.md).",
    "automations.name": "the automation's name, in logs and reports",
    "automations.when": "a device condition: `\"hall_motion on\"`, `\"chambre < 19\"`, "
                        "`\"hall_motion off for 10m\"` (give `when` or `at`)",
    "automations.at": "a schedule: `\"every weekday at 06:30\"`, `\"every 15m\"`, cron (give `when` or `at`)",
    "automations.do": "command lines to run, in order",
    "automations.only_if": "conditions checked when it fires: device states, `\"between 05:00 and 09:00\"`",
    "automations.hysteresis": "a threshold condition must come back this far before it fires again",
    "automations.owner": "the user whose roles the commands run with (default: `[automations_defaults] owner`)",
    "automations.enabled": "`false` keeps the rule without running it",
    "automations.max_runs_per_minute": "one run more within a minute stops the automation until `enable NAME`, and its owner is warned (default: `[automations_defaults]`)",
    "automations_defaults": "What every automation has unless it says otherwise.",
    "automations_defaults.owner": "owner of automations that name none",
    "automations_defaults.max_runs_per_minute": "runs per minute of each automation; one more stops it until `enable NAME` (the loop guard)",
    # every adapter
    "adapters.*.enabled": "`false` keeps the section without starting it",
    "adapters.*.name": "instance name, for several networks of one kind (`libera`)",
}

INTRO = """\
# Configuration

<!-- Generated by `{command}` from the config schemas: edit chatops/config_doc.py, not this file. -->

One TOML file, `config.toml` by default (`chatops run --config FILE`). `chatops check` validates
it and prints what the hub would run (exit 0):

```text
$ chatops check --config config.toml
config.toml: OK
MQTT: embedded
devices (…):
  salon [sensor] zigbee2mqtt/salon aliases: living room, séjour
  salon_humidity [sensor] zigbee2mqtt/salon
…
users (1):
  owner: roles admin
adapters enabled: console (from a terminal only), web
alert rules: smoke
…
```

or lists every problem with the key path, what is wrong and an example of a right value (exit 2).
A section that is invalid does not hide the others' problems (a role that does not exist is
listed beside a wrong alert condition); only what points into the invalid section (an alert's
device, when `[devices]` is wrong) waits for it to be fixed:

```text
$ printf '[hub]\\nnmae = "maison"\\n[mqtt]\\nkeepalive = "often"\\n' > broken.toml
$ chatops check --config broken.toml
broken.toml: the configuration is not valid:
  - hub.nmae: unknown key; did you mean 'name'? Known keys here: name, prefix, data_dir, …
  - mqtt.keepalive: Input should be a valid integer, unable to parse string as an integer (got 'often'); for example: keepalive = 30
```

It also reports secrets that cannot be read (an unset variable, a missing file) and a `data_dir`
the hub could not write to. Run it as the user the hub runs as.

**Secrets never go in the file.** Every secret key is written `KEY_env = "VARIABLE"` or
`KEY_file = "/path"`; a relative path is taken from the config file's folder, and a secret file
that group or others can read draws a warning (`chmod 600` it).

**Durations are strings with a unit**: `"500ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"7d"`, `"2w"`. A
bare number such as `repeat = 5` is refused ("give a unit"); only `0` needs none. Units may be
written out, in English or French (`"10 minutes"`, `"2 heures"`, `"3 days"`), and `"1h30"` is an
hour and a half.

Below, every key of every section: its type, its default (*required* when it has none) and what
it is for. `NAME` is a name you choose.
"""


@dataclass(frozen=True)
class Key:
    """One documented key: where it lives, what it holds, what it defaults to."""

    path: str             # description lookup: "hub.name", "users.NAME.roles", "adapters.NAME.channels.name"
    key: str              # as written in the file
    type: str
    default: str
    description: str | None


@dataclass(frozen=True)
class Table:
    """A TOML table as written in config.toml (`[hub]`, `[users.NAME]`, `[[alerts]]`) and its keys."""

    path: str
    header: str
    keys: tuple[Key, ...]
    description: str | None


def _first_party() -> list[Network]:
    """The networks shipped with chatops, in the registry's order (the order people meet them)."""
    return [n for n in networks().known.values() if n.adapter.startswith(("adapters.", "chatops."))]


def _network_words(path: str) -> str | None:
    """What a network says of itself: `[adapters.NAME]`, `users.NAME.<network>`; alert addresses."""
    parts = path.split(".")
    if path == "alerts.notify":
        examples = ", ".join(f"`{n.example}`" for n in _first_party() if n.about and n.example)
        return f"user names, or addresses: {examples}"
    network = networks().get(parts[-1])
    if network is None:
        return None
    if len(parts) == 2 and parts[0] == "adapters":
        return network.about or None
    if len(parts) == 3 and parts[:2] == ["users", "NAME"]:
        return network.identities or None
    return None


def _describe(path: str, field: FieldInfo | None = None) -> str | None:
    if path in DESCRIPTIONS:
        return DESCRIPTIONS[path]
    said = _network_words(path)
    if said:
        return said
    if field is not None and field.description:
        return field.description
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "adapters":
        return DESCRIPTIONS.get(".".join(["adapters", "*", *parts[2:]]))
    return None


def _is_duration(field: FieldInfo) -> bool:
    def marked(items: Any) -> bool:
        return any(getattr(m, "func", None) is parse_duration for m in items)

    if marked(field.metadata):
        return True
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated and marked(arg.__metadata__):
            return True
    return False


def _models(annotation: Any) -> list[type[Model]]:
    """The config sections an annotation holds: a model, a list of them, or one in a union."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _type_name(annotation: Any, duration: bool = False) -> str:
    if duration:
        return "duration"
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return f"list of {_plural(_type_name(args[0]))}" if args else "list"
    if origin is dict:
        return f"table of {_plural(_type_name(args[1]))}"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " or ".join(json.dumps(m.value) for m in annotation)
        if issubclass(annotation, Model):
            return "table"
        if issubclass(annotation, Path):
            return "path"
        return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(annotation,
                                                                                      annotation.__name__)
    return str(annotation)


def _plural(name: str) -> str:
    words = name.split(" or ")
    return " or ".join(w if w.startswith(("list", "table", '"')) else w + "s" for w in words)


def _toml(value: Any, duration: bool) -> str:
    if value is None:
        return "none"
    if isinstance(value, Enum):
        value = value.value
    if duration and isinstance(value, (int, float)):
        return json.dumps(format_duration(float(value)))
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v, False) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v, False)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _default(field: FieldInfo, duration: bool) -> str:
    if field.default_factory is not None:
        return _toml(field.default_factory(), duration)   # type: ignore[call-arg]
    if field.default is MISSING:
        return "*required*"
    return _toml(field.default, duration)


def _tables(model: type[Model], path: str, header: str, holder: FieldInfo | None = None) -> list[Table]:
    """`model` as a table, followed by the tables nested in its keys (IRC channels, XMPP rooms)."""
    keys: list[Key] = []
    nested: list[Table] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key_path = f"{path}.{name}"
        duration = _is_duration(field)
        written = f"`{name}`" + (f" (or `{field.alias}`)" if field.alias and field.alias != name else "")
        keys.append(Key(key_path, written, _type_name(field.annotation, duration), _default(field, duration),
                        _describe(key_path, field)))
        union = typing.get_origin(field.annotation) in (typing.Union, types.UnionType)
        single = [a for a in (field.annotation, *(typing.get_args(field.annotation) if union else ()))
                  if isinstance(a, type) and issubclass(a, Model)]      # a table, not a list of them
        for inner in _models(field.annotation):
            nested += _tables(inner, key_path, f"[{key_path}]" if inner in single else f"{header} `{name}` entries",
                              field)
    if model is UserSettings:
        # One key per network this installation knows (plugins included): the person's identities there.
        for network in sorted(_first_party(), key=lambda n: not n.about):
            key_path = f"{path}.{network.name}"
            keys.append(Key(key_path, f"`{network.name}`", "list of strings", "`[]`", _describe(key_path)))
    return [Table(path, header, tuple(keys), _describe(path, holder)), *nested]


def collect() -> list[Table]:
    """Every table of config.toml, in the order of the Settings model, adapters last."""
    tables: list[Table] = []
    root_keys: list[Key] = []
    for name, field in Settings.model_fields.items():
        if field.exclude or name == "adapters":
            continue
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, Model):
            tables += _tables(annotation, name, f"[{name}]")
        elif origin is dict and _models(args[1]):
            start = len(tables)
            tables += _tables(_models(args[1])[0], f"{name}.NAME", f"[{name}.NAME]")
            tables[start] = _with_description(tables[start], name)
        elif origin is dict:
            key = Key(f"{name}.NAME", "`NAME`", _type_name(args[1]), "", _describe(f"{name}.NAME"))
            tables.append(Table(name, f"[{name}]", (key,), _describe(name)))
        elif origin in (list, tuple) and _models(args[0]):
            start = len(tables)
            tables += _tables(_models(args[0])[0], name, f"[[{name}]]")
            tables[start] = _with_description(tables[start], name)
        else:
            root_keys.append(Key(name, f"`{name}`", _type_name(annotation), _default(field, False),
                                 _describe(name, field)))
    if root_keys:
        tables.insert(0, Table("", "top level (before any table)", tuple(root_keys), None))
    for network in _first_party():
        if network.about:                          # a network people configure (not the test loopback)
            schema: type[Model] = adapter_schema(network.name)
            tables += _tables(schema, f"adapters.{network.name}", f"[adapters.{network.name}]")
    return tables


def _with_description(table: Table, path: str) -> Table:
    return Table(table.path, table.header, table.keys, _describe(path))


def undescribed(tables: list[Table] | None = None) -> list[str]:
    """Key paths (and tables) that have no description."""
    missing = []
    for table in tables if tables is not None else collect():
        if table.path and table.description is None and " entries" not in table.header:
            missing.append(table.path)
        missing += [key.path for key in table.keys if not key.description]
    return list(dict.fromkeys(missing))        # a sub-table and the key holding it share a path


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(tables: list[Table] | None = None) -> str:
    """The whole of docs/configuration.md."""
    tables = tables if tables is not None else collect()
    lines = [INTRO.format(command=COMMAND)]
    adapters_said = False
    for table in tables:
        if table.path.startswith("adapters.") and not adapters_said:
            lines += ["## `[adapters.NAME]`", "", DESCRIPTIONS["adapters"], ""]
            adapters_said = True
        level = "###" if table.path.startswith("adapters.") or " entries" in table.header else "##"
        header = table.header if " entries" in table.header else f"`{table.header}`"
        lines += [f"{level} {header}", ""]
        if table.description:
            lines += [table.description, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key in table.keys:
            default = key.default if key.default in ("", "none", "*required*") else f"`{key.default}`"
            lines.append(f"| {key.key} | {_cell(key.type)} | {_cell(default)} | "
                         f"{_cell(key.description or '**undescribed**')} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m chatops.config_doc",
                                     description="Write the configuration reference (docs/configuration.md) "
                                                 "from the config schemas.")
    parser.add_argument("output", nargs="?", type=Path, help="the file to write (default: print it)")
    args = parser.parse_args(argv)
    try:
        tables = collect()
    except ImportError as exc:      # a network's settings need its library: the reference covers them all
        print(f"chatops.config_doc: the reference covers every network, and module {exc.name} is missing: "
              "pip install -e '.[all]' first", file=sys.stderr)
        return 2
    missing = undescribed(tables)
    if missing:
        print("chatops.config_doc: these config keys have no description (add them to DESCRIPTIONS in "
              "chatops/config_doc.py): " + ", ".join(missing), file=sys.stderr)
    text = render(tables)
    if args.output:                 # the file is written only once the whole reference is made
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
