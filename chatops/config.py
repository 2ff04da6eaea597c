"""config.toml -> typed, frozen settings, refused with the key path and an example when wrong.

Each adapter module declares its own section schema (`Settings`, a subclass of
`AdapterSettings`); this module finds it by the section's name, so the core never imports a
chat library. Secrets are never written in config.toml: every secret KEY is given as
`KEY_env` (an environment variable) or `KEY_file` (a file), and read only when needed.
"""

from __future__ import annotations

import difflib
import errno
import getpass
import os
import re
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from .extras import first_missing, install_hint, library_problem, needs_module
from .schema import Field, Model, ValidationError, field_validator, model_validator

from .config_base import (Duration, Section, is_loopback, port_too_high, publish_topic,  # noqa: F401
                          split_listen, topic_filter)     # (re-exported for adapters' sections)
from .config_checks import cross_checks
from .config_errors import format_errors, toml_problem
from .url_secrets import masked, without_password
from .device_settings import DeviceSettings, DeviceType  # noqa: F401 (DeviceType re-exported)
from .rule_settings import AlertSettings, AutomationDefaults, AutomationSettings
from .web_settings import NotifySettings, NotifyToken, NotifyTopic, WebSettings  # noqa: F401 (re-exported)


class ConfigError(Exception):
    """A config that cannot run; `problems` are lines naming the key, the fault and a fix."""

    def __init__(self, problems: list[str] | str) -> None:
        problems = [problems] if isinstance(problems, str) else problems     # a plugin's ConfigError("why")
        super().__init__("\n".join(problems))
        self.problems = problems


def _looks_like_a_secret(name: str) -> bool:
    """A variable name that is more likely a pasted token (`openssl rand -hex 24` starts with a
    letter 6 times in 16): long, with digits, lower case or mixed, no `_`; printed back as the
    name of a variable not set, it went to the journal."""
    return len(name) >= 20 and "_" not in name and any(c.isdigit() for c in name) and not name.isupper()


def read_secret(section: Model, key: str, base_dir: Path | None = None) -> str | None:
    """The secret `key` of `section`, from its `KEY_env` variable or `KEY_file` file.

    Returns None when neither is configured; raises ConfigError when one is configured
    but missing, so start-up fails with the key named instead of a login error later.
    """
    env_name = getattr(section, f"{key}_env", None)
    file_name = getattr(section, f"{key}_file", None)
    if env_name and file_name:          # which one wins would be a surprise either way
        raise ConfigError([f"{key}_env and {key}_file are both set; keep one of them"])
    if env_name and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_name) or _looks_like_a_secret(env_name)):
        # `token_env = "xoxb-…"`: the secret itself, which the message must not print back.
        raise ConfigError([f"{key}_env names an environment variable (letters, digits and _), and what is written "
                           f"there is no such name: the secret itself? Keep secrets out of config.toml: export "
                           f"{key.upper()}=... and write {key}_env = \"{key.upper()}\""])
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigError([f"{key}_env: environment variable {env_name} is not set; "
                               f"export {env_name}=... before starting"])
        value = value.strip()       # as a file's: `export T="xoxb-… "` or a pasted newline is no part of it
        if not value:               # an empty secret would open what it guards (no PIN, any webhook)
            raise ConfigError([f"{key}_env: environment variable {env_name} is empty; give it the secret"])
        _long_enough(section, key, value, f"{key}_env: environment variable {env_name}",
                     f"export {env_name}=$(openssl rand -hex 24)")
        return value
    if file_name:
        path = Path(file_name)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            hint = "" if exc.errno != errno.EACCES else \
                f" (the hub runs as {getpass.getuser()}: sudo chown {getpass.getuser()} {path} && sudo chmod 600 {path})"
            if exc.errno == errno.EISDIR:
                hint = f" ({key}_file names the file holding the secret, not its folder: e.g. {path / (key + '.secret')})"
            raise ConfigError([f"{key}_file: cannot read {path}: {exc.strerror}{hint}"]) from None
        if not value:
            raise ConfigError([f"{key}_file: {path} is empty; write the secret in it"])
        _long_enough(section, key, value, f"{key}_file: {path}", f"openssl rand -hex 24 > {path}")
        return value
    return None


def _long_enough(section: Model, key: str, value: str, where: str, fix: str) -> None:
    """Refuse a guessable token: a section's `SHORTEST_SECRETS` names its secrets that open a
    door to anyone who can reach it (the web server's tokens), with their least length. A
    2-character token was found by trying them all in half a second. Its `SECRET_FORMATS` names
    those a service takes in one form only, (pattern, what it takes): said by `chatops check`,
    not first when the adapter starts."""
    least = getattr(type(section), "SHORTEST_SECRETS", {}).get(key)
    if least is not None and len(value) < least:
        article = "an" if len(value) in (8, 11) else "a"       # (shorter than SHORTEST_SECRETS' 16)
        raise ConfigError([f"{where} holds {article} {len(value)}-character token, which anyone who reaches the web "
                           f"server could guess; use at least {least} random characters: {fix}"])
    form = getattr(type(section), "SECRET_FORMATS", {}).get(key)
    if form is not None and not re.fullmatch(form[0], value):
        # (pattern, what it takes[, where to find the right one]); one we make is made with openssl.
        if len(form) > 2:
            raise ConfigError([f"{where}: {form[1]}; {form[2]}"])
        raise ConfigError([f"{where}: {form[1]} (not {len(value)} characters with others); make one with "
                           f"openssl rand -hex 32"])


COUNTRY_PATTERN = r"^(\+[1-9]\d{0,3}|[A-Za-z]{2})$"


def known_country(value: str) -> str:
    """`value` when phonenumbers knows it as a calling code (`+39`) or a region code (`IT`).

    The shipped default is not looked up, so a hub without SMS never imports phonenumbers."""
    if value == "+33":
        return value
    if not re.fullmatch(COUNTRY_PATTERN, value):      # `France`: said, not as a regular expression
        raise ValueError(f"{value[:30]!r} is neither a calling code nor a two-letter region code; write e.g. "
                         "\"+33\" or \"FR\"")
    import phonenumbers

    if value.startswith("+"):
        known = phonenumbers.region_code_for_country_code(int(value[1:])) != "ZZ"
    else:
        value = value.upper()
        known = phonenumbers.country_code_for_region(value) != 0
    if not known:
        raise ValueError(f"{value!r} is no country's calling code or region code; "
                         "write e.g. \"+33\" or \"FR\"")
    return value


class HubSettings(Section):
    name: str = Field("maison", min_length=1, max_length=30, examples=['"maison"'])
    prefix: str = Field("!", min_length=1, max_length=3, examples=['"!"'])
    data_dir: Path = Field(Path("data"), examples=['"data"'])
    default_role: str = Field("guest", examples=['"guest"'])
    default_country: str = Field("+33", examples=['"+33"', '"FR"'],
                                 description="country of phone numbers written without one: "
                                             "calling code or region code")
    language: Literal["en", "fr"] = Field("en", examples=['"fr"'],
                                         description="what the hub answers in; a user's own `language` wins")
    handler_timeout: Duration = Field(30.0, gt=0, examples=['"30s"'])
    rate_limit: int = Field(30, ge=1, examples=["30"],
                            description="commands per sender per minute (admins are not limited, except on a "
                                        "network where a sender can be forged, such as text messages)")
    audit_retention: Duration = Field(90 * 86400.0, gt=0, examples=['"90d"'],
                                      description="how long refusals and security events are kept")
    max_reply_chars: int = Field(4000, ge=200, examples=["4000"])
    timezone: str | None = Field(None, examples=['"Europe/Paris"'],
                                 description="IANA zone of schedules and shown times (default: the system's)")
    misfire_grace: Duration = Field(300.0, ge=0, examples=['"5m"'],
                                    description="a timer run missed by at most this much (and a second: the "
                                                "scheduler wakes a little late) still runs")

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        return known_country(value)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_folder(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():      # read as ".": the config's own folder
            raise ValueError("empty; name the folder of the hub's database and pictures, e.g. "
                             "data_dir = \"/var/lib/chatops\"")
        return value

    @field_validator("name")
    @classmethod
    def _topic_safe(cls, value: str) -> str:
        # The name is a level of the hub's MQTT topics (chatops/NAME/status): a wildcard or a
        # slash there makes the broker drop the connection at once, with no reason a user sees.
        bad = sorted({c for c in value if c in "#+/" or ord(c) < 32})
        if bad:
            raise ValueError(f"the name is part of MQTT topics (chatops/NAME/...) and may not contain "
                             f"{' '.join(map(repr, bad))}; write e.g. \"maison\" or \"Maison 2\"")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value:                           # a field's check: the error names hub.timezone
            from .schedule import zone
            zone(value)                     # ScheduleError (a ValueError) names the fix
        return value


class MqttSettings(Section):
    url: str = Field("embedded", examples=['"embedded"', '"mqtt://192.168.1.10:1883"'])
    username: str | None = Field(None, examples=['"hub"'])
    password_env: str | None = Field(None, examples=['"MQTT_PASSWORD"'])
    password_file: str | None = Field(None, examples=['"/etc/chatops/mqtt.pass"'])
    ca_file: str | None = Field(None, examples=['"/etc/ssl/my-ca.pem"'])
    client_id: str | None = Field(None, examples=['"chatops-maison"'])
    keepalive: int = Field(30, ge=5, le=3600, examples=["30"])
    backoff_max: Duration = Field(30.0, gt=0, examples=['"30s"'])
    down_alert_after: Duration = Field(60.0, gt=0, examples=['"2m"'],
                                       description="the admins are told once the broker has been lost this long "
                                                   "(no detector can be heard), and again when it is back")
    embedded_listen: str = Field("127.0.0.1:1883", examples=['"127.0.0.1:1883"'])
    max_payload: int = Field(262144, ge=1024, examples=["262144"])
    discovery_publish: bool = Field(True, examples=["true"],
                                    description="announce the hub to Home Assistant (MQTT discovery)")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                                  examples=['"homeassistant"'],
                                  description="Home Assistant's discovery prefix, read and written")
    discovery_ack_user: str | None = Field(None, examples=['"alice"'],
                                           description="the user whose `ack` the acknowledge button runs")

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, url: str) -> str:
        return without_password(url, 'give username = "hub" and password_env = "MQTT_PASSWORD" (or password_file)') \
            or url

    @model_validator(mode="after")
    def _check_url(self) -> MqttSettings:
        if not re.fullmatch(r"[^:\s]+:\d{1,5}", self.embedded_listen):
            raise ValueError(f"embedded_listen {self.embedded_listen!r} must be HOST:PORT, "
                             "e.g. \"127.0.0.1:1883\"")
        if self.url == "embedded" and not is_loopback(split_listen(self.embedded_listen)[0]):
            raise ValueError(f"embedded_listen {self.embedded_listen!r}: the embedded broker is this machine's "
                             "(it lets in the hub's own login only), so it listens on loopback only (\"127.0.0.1:1883\"); for "
                             "devices on your network run mosquitto with passwords and set url = "
                             "\"mqtt://HOST:1883\"")
        if port_too_high(self.embedded_listen) or port_too_high(self.url):
            which = "embedded_listen" if port_too_high(self.embedded_listen) else "url"
            raise ValueError(f"{which}: a port is at most 65535 (the broker's is usually 1883, or 8883 with TLS)")
        if self.url != "embedded" and not re.fullmatch(r"mqtts?://[^/:]+(:\d{1,5})?/?", self.url):
            raise ValueError(f"url {self.url!r} is not understood; write \"embedded\", "
                             "\"mqtt://host:1883\" or \"mqtts://host:8883\"")
        return self

    @property
    def host_port_tls(self) -> tuple[str, int, bool]:
        """(host, port, tls) of a remote broker URL."""
        match = re.fullmatch(r"(mqtts?)://([^/:]+)(?::(\d+))?/?", self.url)
        assert match, self.url
        tls = match.group(1) == "mqtts"
        return match.group(2), int(match.group(3) or (8883 if tls else 1883)), tls


class SimulatorSettings(Section):
    enabled: bool = False
    interval: Duration = Field(10.0, gt=0, examples=['"10s"'])
    base_topic: str = Field("zigbee2mqtt", examples=['"zigbee2mqtt"'])

    motion_clear: Duration = Field(60.0, gt=0, examples=['"1m"'],
                                   description="hall_motion reports no motion this long after `simulate motion`")
    cover_travel: Duration = Field(20.0, gt=0, le=600, examples=['"20s"'],
                                   description="volet_salon takes this long from closed to open")

    @field_validator("base_topic")
    @classmethod
    def _no_wildcard(cls, topic: str) -> str:
        return publish_topic(topic)


class HistorySettings(Section):
    """[history]: every numeric/on-off reading is kept raw for a while, then as averages."""

    enabled: bool = True
    raw_retention: Duration = Field(7 * 86400.0, gt=0, examples=['"7d"'])
    rollup_interval: Duration = Field(300.0, ge=10, examples=['"5m"'])
    rollup_retention: Duration = Field(365 * 86400.0, ge=0, examples=['"365d"'])
    min_interval: Duration = Field(1.0, ge=0, examples=['"1s"'],
                                   description="keep at most one reading per device this often (0: all)")
    flush_interval: Duration = Field(1.0, gt=0, le=60, examples=['"1s"'])
    flush_batch: int = Field(500, ge=1, examples=["500"])


class Enabled(str, Enum):
    AUTO = "auto"


class AdapterSettings(Section):
    """Keys every adapter section has; adapters subclass it as their module's `Settings`."""

    enabled: bool | Literal["auto"] = True
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_.-]*$", examples=['"libera"'])

    def listens(self) -> list[tuple[str, str]]:
        """(key, HOST:PORT) of each address this adapter listens on (a webhook's), checked free
        at start with the web server's and the broker's, so a clash is said, naming the key."""
        return []

    def problems_with(self, hub: HubSettings) -> list[str]:
        """What is wrong with this section given `[hub]` (a default taken from the hub's name),
        as `KEY: why; fix`, checked by `chatops check` before the adapter ever starts."""
        return []

    def file_problems(self, base_dir: Path) -> list[str]:
        """Files this adapter will read that cannot serve it (a daemon's config that is missing or
        unreadable; relative names are from the config's folder), as `KEY: why; fix`: `chatops
        check` reports them and `run` stops on them, as on a missing secret, instead of the
        adapter failing later."""
        return []

    def warnings_with(self, settings: Settings) -> list[str]:
        """What runs but an owner should fix, judged by this adapter's settings anywhere in the
        config (a `[users]` identity this network would never recognise), as full `KEY: why; fix`
        lines: `chatops check` prints them; the adapter says them itself when it starts."""
        return []


class UserSettings(Section):
    """[users.NAME]: roles, a PIN word, and one key per network with that person's identities
    there (`irc = [...]`, `xmpp = [...]`, `matrix = [...]`...). Which network keys exist and what
    a pattern may look like is each network's own business (chatops.networks); the cross-checks
    ask them."""

    model_config = {"extra": "allow"}

    roles: list[str] = Field(default_factory=list, examples=['["family"]'])
    language: Literal["en", "fr"] | None = Field(None, examples=['"fr"'],
                                                description="what this person reads (default: [hub] language)")
    pin_env: str | None = Field(None, examples=['"ALICE_SMS_PIN"'])
    pin_file: str | None = None

    @model_validator(mode="after")
    def _identities_are_lists(self) -> UserSettings:
        for network, patterns in (self.model_extra or {}).items():
            if network in ("pin", "password", "token", "secret"):
                # `pin = "1234"` was answered "pin must be a list of identities", which invites
                # `pin = ["1234"]`: a secret in the file.
                raise ValueError(f"{network}: a secret is never written in config.toml; a user's PIN word goes in "
                                 f"a file or a variable: pin_file = \"/etc/chatops/NAME.pin\" (chmod 600) or "
                                 f"pin_env = \"NAME_PIN\"")
            from .networks import networks
            fields = [n for n in type(self).model_fields]
            if (close := difflib.get_close_matches(network, fields, n=1, cutoff=0.8)) and network not in networks().known:
                raise ValueError(f"unknown key {network!r}; did you mean {close[0]!r}?")      # `role = ["admin"]`
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                # Any other key is a network's identities: `langage = "fr"` is a slip for a key.
                close = difflib.get_close_matches(network, [n for n in type(self).model_fields], n=1, cutoff=0.7)
                if close:
                    raise ValueError(f"unknown key {network!r}; did you mean {close[0]!r}?")
                if isinstance(patterns, list) and all(isinstance(p, (str, int)) and not isinstance(p, bool)
                                                      for p in patterns):   # telegram = [123456789]
                    quoted = ", ".join(f'"{p}"' for p in patterns)
                    raise ValueError(f"identities are text: write the numbers in quotes, {network} = [{quoted}]")
                raise ValueError(f"{network} must be a list of identities, e.g. {network} = [\"...\"] (a key of "
                                 f"[users.NAME] other than {', '.join(type(self).model_fields)} is a network's name)")
        return self

    @property
    def identities(self) -> dict[str, list[str]]:
        """Network name -> this person's identity patterns there."""
        return dict(self.model_extra or {})

    def patterns(self, network: str) -> list[str]:
        return list((self.model_extra or {}).get(network) or [])


class Settings(Section):
    hub: HubSettings = HubSettings()
    mqtt: MqttSettings = MqttSettings()
    web: WebSettings = WebSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    history: HistorySettings = HistorySettings()
    adapters: dict[str, Any] = Field(default_factory=dict)
    users: dict[str, UserSettings] = Field(default_factory=dict)
    roles: dict[str, list[str]] = Field(default_factory=lambda: {"guest": ["help", "whoami"]})
    devices: dict[str, DeviceSettings] = Field(default_factory=dict)
    alerts: list[AlertSettings] = Field(default_factory=list)
    automations: list[AutomationSettings] = Field(default_factory=list)
    automations_defaults: AutomationDefaults = AutomationDefaults()
    notify: NotifySettings = NotifySettings()
    plugins: dict[str, Any] = Field(default_factory=dict, description="one table per command plugin")
    plugin_sections: dict[str, Any] = Field(default_factory=dict, exclude=True)
    base_dir: Path = Field(Path("."), exclude=True)
    adapter_sections: tuple[tuple[str, str, AdapterSettings], ...] = Field((), exclude=True)

    @property
    def data_dir(self) -> Path:
        path = self.hub.data_dir.expanduser()           # `~/chatops`: the home of whoever runs the hub
        return path if path.is_absolute() else self.base_dir / path

    def enabled_adapters(self, console_forced: bool = False, tty: bool = False
                         ) -> list[tuple[str, str, AdapterSettings]]:
        """(instance name, kind, settings) of the adapters to start."""
        chosen = []
        for name, kind, section in self.adapter_sections:
            on = section.enabled
            if kind == "console" and console_forced:
                on = True
            elif on == "auto":
                on = tty if kind == "console" else True
            if on:
                chosen.append((name, kind, section))
        return chosen


def adapter_schema(kind: str) -> type[AdapterSettings]:
    """The `[adapters.KIND]` schema of network `kind` (ModuleNotFoundError when unknown)."""
    from .networks import networks

    network = networks().get(kind)
    if network is None:
        raise ModuleNotFoundError(kind, name=kind)
    schema: type[AdapterSettings] = network.settings_schema()
    return schema


def adapter_class(kind: str) -> Any:
    """The adapter class of network `kind`, imported now (only enabled adapters get here)."""
    from .networks import networks

    network = networks().get(kind)
    if network is None:
        raise ModuleNotFoundError(kind, name=kind)
    return network.adapter_class()


def loaded_adapter_class(kind: str) -> Any | None:
    """The adapter class of network `kind`, or None when its plugin was left out: its adapter
    module raised on import (now or before), which never stops the hub (`status` says why).
    That includes a library it imports without declaring it in `requires` (a declared one that
    is missing is the config check's to name, with what to install)."""
    from .networks import networks

    if kind in networks().broken:
        return None
    try:
        return adapter_class(kind)
    except Exception as exc:
        networks().left_out(kind, exc, "its adapter module")
        return None


def _enabled(body: Any) -> bool:
    bodies = body if isinstance(body, list) else [body]
    return any(not isinstance(b, dict) or b.get("enabled", True) is not False for b in bodies)


def _validate_adapters(raw: dict[str, Any]) -> tuple[list[tuple[str, str, AdapterSettings]], list[str]]:
    sections: list[tuple[str, str, AdapterSettings]] = []
    problems: list[str] = []
    from .networks import networks

    known = networks()
    for kind, body in raw.items():
        if kind in known.broken:            # its plugin failed to load: the hub starts without it
            # (chatops check and status say why), its adapter shown down with the reason
            sections.append((kind, kind, AdapterSettings(enabled=_enabled(body))))
            continue
        try:
            schema = adapter_schema(kind)
        except ModuleNotFoundError as exc:
            if exc.name in (kind, f"adapters.{kind}"):
                names = [n for n in known.names if n != "web"]
                close = difflib.get_close_matches(kind, names, n=1)
                meant = f"did you mean {close[0]!r}? Known" if close else "known"
                problems.append(f"adapters.{kind}: unknown adapter; {meant} ones are {', '.join(names)} (a network "
                                f"from a plugin is known once its package is installed: docs/plugins.md)")
            elif _enabled(body):
                problems.append(needs_module(kind, exc.name or "?"))
            continue
        except Exception as exc:            # a plugin's settings module that raised on import
            known.left_out(kind, exc, "its settings module")
            continue
        bodies = body if isinstance(body, list) else [body]
        for index, item in enumerate(bodies):
            where = f"adapters.{kind}" + (f"[{index}]" if isinstance(body, list) else "")
            if not isinstance(item, dict):
                problems.append(f"{where}: expected a table such as [adapters.{kind}]")
                continue
            try:
                section = schema.model_validate(item)
            except ValidationError as exc:
                problems.extend(format_errors(exc, schema, where + ".", data=item))
                continue
            except Exception as exc:                # a validator of a plugin's schema that crashed
                problems.append(f"{where}: the network's own check of this table failed ({type(exc).__name__}: "
                                f"{masked(str(exc))}); fix the table, or report it to the plugin's author")
                continue
            name = section.name or (kind if len(bodies) == 1 else f"{kind}.{index}")
            sections.append((name, kind, section))
        problem = library_problem(kind) if any(s.enabled is not False for _, k, s in sections if k == kind) else None
        if problem and not known.known[kind].adapter.startswith("adapters."):
            # A plugin's: left out as a plugin that fails to import is, the other networks run.
            known.left_out(kind, ModuleNotFoundError(problem.partition(": ")[2]), "a module it requires")
        elif problem:
            problems.append(problem)
    names = [n for n, _, _ in sections]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"adapters: two adapters are named {name!r}; give each a distinct name = \"...\"")
    for name, kind, _section in sections:
        # An address `irc:bob` is checked by IRC's rules and goes to the adapter named irc: an
        # instance of another network by that name took it (and `web` hid the TCP port it opened).
        if name != kind and (name == "web" or name in known.known):
            problems.append(f"adapters.{kind}: name = {name!r} is the name of the {name} network; name this "
                            f"{kind} adapter otherwise, e.g. name = \"{kind}_home\"")
    return sections, problems


def parse_settings(raw: dict[str, Any], base_dir: Path = Path(".")) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = format_errors(exc, Settings, data=raw)
        sections, more = _validate_adapters(raw.get("adapters", {}) if isinstance(raw.get("adapters"), dict) else {})
        raise ConfigError(problems + more + _cross_problems_besides(raw, exc, sections)) from None
    sections, problems = _validate_adapters(settings.adapters)
    from .command import command_modules
    from .plugins import validate_sections

    modules, broken = command_modules()
    plugin_sections, plugin_problems = validate_sections(modules, settings.plugins, broken)
    problems += plugin_problems
    settings = settings.model_copy(update={"base_dir": base_dir, "adapter_sections": tuple(sections),
                                           "plugin_sections": plugin_sections})
    # Adapters whose section did not validate (reported above): addresses on them are not judged.
    unjudged = frozenset(settings.adapters) - {kind for _, kind, _ in sections}
    problems += cross_checks(settings, unjudged)
    if settings.mqtt.url == "embedded" and first_missing(["amqtt"]):
        problems.append(f"mqtt.url: {missing_amqtt()}")
    if problems:
        raise ConfigError(problems)
    return settings


# Sections other sections point into (a device an alert names, a user's role): when one of them
# is invalid, what points into it cannot be judged yet.
# Sections others are judged by: one of them invalid, the others are not judged against its
# defaults (a typo in [automations_defaults] made every automation "no owner" as well).
_REFERENCED = {"devices", "users", "roles", "adapters", "automations_defaults"}


def _cross_problems_besides(raw: dict[str, Any], exc: ValidationError,
                            sections: list[tuple[str, str, AdapterSettings]]) -> list[str]:
    """The cross-section problems of the sections that did validate, so that one run of
    `chatops check` lists them beside the invalid ones instead of after they are fixed."""
    failed = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
    if failed & _REFERENCED:
        return []
    try:
        partial = Settings.model_validate({key: value for key, value in raw.items() if key not in failed})
    except ValidationError:
        return []
    return cross_checks(partial.model_copy(update={"adapter_sections": tuple(sections)}))


def missing_amqtt() -> str:
    return ('url = "embedded" needs the embedded broker, which is not installed: '
            f'{install_hint("embedded")} (it brings amqtt), or set [mqtt] url to your own broker, '
            'e.g. "mqtt://127.0.0.1:1883"')


def load_settings(path: Path) -> Settings:
    """Read and validate config file `path`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        if exc.errno == errno.EACCES:       # there, but not for this account (the service's)
            raise ConfigError([f"{path}: cannot read the config file ({exc.strerror}): the hub runs as "
                               f"{getpass.getuser()}, which must be able to read it: sudo chgrp "
                               f"{getpass.getuser()} {path} && sudo chmod 640 {path}"]) from None
        raise ConfigError([f"{path}: cannot read the config file ({exc.strerror}); "
                           "pass --config FILE or run from the folder holding config.toml"]) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:200]:
        # Notepad's "Unicode": read as Latin-1 and converted, it was no TOML either.
        raise ConfigError([f"{path}: the file is saved as UTF-16; save it as UTF-8 in your editor, or convert it: "
                           f"iconv -f utf-16 -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}"])
    try:
        # Windows Notepad's byte-order mark is no TOML: read past it rather than "invalid statement
        # at line 1, column 1", which points at nothing anyone can see.
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path}: line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}: the file was saved "
                           "in another encoding, Latin-1 or Windows-1252); save it as UTF-8 in your editor, or "
                           f"convert it: iconv -f cp1252 -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {toml_problem(str(exc), text)}"]) from None
    if not raw:
        # A truncated file (a `tee` that failed, a copy cut short) ran a hub on every default.
        raise ConfigError([f"{path}: no settings at all (the file is empty, or only comments); start from the "
                           "config.toml of the source folder and keep what you need"])
    return parse_settings(raw, path.resolve().parent)
