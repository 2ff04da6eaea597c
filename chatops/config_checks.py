"""What no single section can check alone: names that must exist elsewhere in the config (roles,
users, devices, cameras), alert and notification addresses, automations' devices and owners.
Each problem is one line naming the key and the fix, as `chatops check` prints it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config_base import split_listen
from .config_errors import named_entry
from .device_settings import ON_OFF_TYPES, DeviceType

if TYPE_CHECKING:
    from pathlib import Path

    from .config import Settings, UserSettings


def cross_checks(s: Settings, unjudged: frozenset[str] = frozenset()) -> list[str]:
    """Every cross-section problem of `s` (empty when it runs). `unjudged`: adapters whose own
    section is wrong (reported apart): addresses on them are not called undeliverable."""
    problems = []
    roles = set(s.roles)
    if s.hub.default_role not in roles:
        problems.append(f"hub.default_role: role {s.hub.default_role!r} is not defined in [roles]; "
                        f"defined: {', '.join(sorted(roles)) or 'none'}")
    for role, grants in s.roles.items():
        for grant in grants:
            if grant != "*" and not re.fullmatch(r"[a-z0-9_]+", grant):
                problems.append(f"roles.{role}: {grant!r} is neither a command nor a role name")
    for user, u in s.users.items():
        for role in u.roles:
            if role not in roles:
                close = difflib.get_close_matches(role, sorted(roles), n=1, cutoff=0.6)
                meant = f"did you mean {close[0]!r}? " if close else ""
                problems.append(f"users.{user}.roles: role {role!r} is not defined in [roles]; "
                                f"{meant}defined: {', '.join(sorted(roles)) or 'none'}")
        problems += _identity_problems(user, u)
    problems += _shared_identities(s)
    ack_user = s.mqtt.discovery_ack_user
    if ack_user and ack_user not in s.users:
        problems.append(f"mqtt.discovery_ack_user: no user named {ack_user!r} in [users]; "
                        f"known: {', '.join(sorted(s.users)) or 'none'}")
    elif ack_user and set(s.users[ack_user].roles) <= roles and \
            not {"*", "ack"} & _expand_roles(s.roles, s.users[ack_user].roles):    # (an unknown role is said above)
        # The button acts as that user, through the one access path: it would be refused at every press.
        problems.append(f"mqtt.discovery_ack_user: {ack_user}'s roles do not grant ack, so the acknowledge button "
                        f"could never acknowledge; give {ack_user} a role with ack")
    if s.web.user and s.web.user not in s.users:
        problems.append(f"web.user: no user named {s.web.user!r} in [users]; "
                        f"known: {', '.join(sorted(s.users)) or 'none'}")
    elif s.web.user and not _web_patterns_take(s, s.web.user):
        # The web chat speaks as `web:USER`, known by the user's `web` patterns: without one
        # taking it, the page silently acted as a stranger (a guest).
        problems.append(f"web.user: the web chat acts as {s.web.user!r}, but users.{s.web.user}.web "
                        f"({', '.join(s.users[s.web.user].patterns('web')) or 'none'}) does not take that name; "
                        f"add web = [\"{s.web.user}\"] to [users.{s.web.user}]")
    seen_names: dict[str, str] = {}
    for name, device in s.devices.items():
        for word in (name, *device.aliases):
            key = " ".join(word.casefold().split())
            other = seen_names.setdefault(key, name)
            if other != name:
                problems.append(f"devices.{name}.aliases: {word!r} already names device {other!r}; "
                                "give each device its own names")
    for name, _kind, section in s.adapter_sections:
        if section.enabled:
            problems += [f"adapters.{name}.{problem}" for problem in section.problems_with(s.hub)]
    networks = {"console", "web"} | {kind for _, kind, sec in s.adapter_sections if sec.enabled} \
        | {name for name, _, sec in s.adapter_sections if sec.enabled} | unjudged
    for i, alert in enumerate(s.alerts):
        rule = named_entry("alerts", i, alert.name)
        device = s.devices.get(alert.snapshot or "")
        if device is not None and device.type is not DeviceType.CAMERA:
            problems.append(f"{rule}.snapshot: {alert.snapshot!r} is a {device.type.value}, not a camera")
        if alert.device not in s.devices:
            problems.append(f"{rule}.device: no device named {alert.device!r}; "
                            f"known: {', '.join(sorted(s.devices)) or 'none'}")
        if alert.snapshot and alert.snapshot not in s.devices:
            problems.append(f"{rule}.snapshot: no camera named {alert.snapshot!r}")
        if alert.device in s.devices and (why := never_holds(s.devices[alert.device].type, alert.when)):
            problems.append(f"{rule}.when: {why}")
    names = [a.name for a in s.alerts]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(f"alerts: two rules are named {dup!r}")
    problems += _automation_problems(s)
    problems += _notify_problems(s, networks)
    problems += _listen_clashes(s)
    return problems


_ANY_HOST = {"", "0.0.0.0", "::"}


def _listen_clashes(s: Settings) -> list[str]:
    """Two servers of this config on one port (a Telegram webhook on `[web] listen`'s): said by
    `chatops check` from the file alone; a start also finds a port another program holds."""
    wanted = ([("web.listen", s.web.listen)] if s.web.enabled else []) + \
        ([("mqtt.embedded_listen", s.mqtt.embedded_listen)] if s.mqtt.url == "embedded" else [])
    for name, _kind, section in s.enabled_adapters():
        wanted += [(f"adapters.{name}.{key}", listen) for key, listen in section.listens()]
    problems, seen = [], []
    for key, listen in wanted:
        host, port = split_listen(listen)
        for other_key, other_host, other_port in seen:
            if port == other_port and port != 0 and (host == other_host or {host, other_host} & _ANY_HOST):
                problems.append(f"{key}: {listen} is also {other_key}'s port; give each its own")
        seen.append((key, host, port))
    return problems


def label_clashes(s: Settings) -> list[str]:
    """Labels another device's name, alias or label already holds (`label = "salon"` on chambre:
    `temp chambre` answered "salon: 17.4 °C" beside the real salon's). A warning: two devices
    labelled alike ran before, and their names still tell them apart."""
    named = {" ".join(w.casefold().split()): n for n, d in s.devices.items() for w in (n, *d.aliases)}
    warnings, labels = [], {}
    for name, device in s.devices.items():
        if not device.label:
            continue
        key = " ".join(device.label.casefold().split())
        other = named.get(key) if named.get(key) not in (None, name) else labels.get(key)
        labels.setdefault(key, name)
        if other is not None and other != name:
            warnings.append(f"devices.{name}.label: {device.label!r} also names device {other!r}: a line saying it "
                            f"reaches one of them; give each device a label of its own")
    return warnings


def recipient_lists(s: Settings) -> list[tuple[str, list[str]]]:
    """(key, entries) of every recipient list: alert rules', automations', [notify]'s, notify tokens'."""
    return [(f"{named_entry('alerts', i, a.name)}.notify", a.notify) for i, a in enumerate(s.alerts)] + \
        [(f"{named_entry('automations', i, a.name)}.notify", a.notify) for i, a in enumerate(s.automations)] + \
        [("notify.default_to", s.notify.default_to)] + \
        [(f"notify.topics[{i}].to", t.to) for i, t in enumerate(s.notify.topics)] + \
        [(f"web.notify_tokens.{name}.to", t.to) for name, t in s.web.notify_tokens.items()]


def unreachable_recipients(s: Settings, enabled_kinds: set[str]) -> list[str]:
    """A user named as a recipient, with patterns on an enabled network none of which names an
    address to write to there (an IRC hostmask with no nick, `*@example.org`): the hub knows
    them when they write, but nothing it sends them goes that way, and nothing said so."""
    from .networks import networks

    warnings = []
    for where, entries in recipient_lists(s):
        for name in dict.fromkeys(e for e in entries if ":" not in e and e in s.users):
            reachable = [kind for kind in enabled_kinds if (network := networks().get(kind)) is not None
                         and s.users[name].patterns(kind) and network.targets(name, s.users[name].patterns(kind))]
            own = [k for k in s.users[name].identities if s.users[name].patterns(k)]
            if not reachable and not any(k in enabled_kinds for k in own):
                # roles only, or entries on networks not enabled here: nothing is ever sent to them
                warnings.append(f"{where}: {name!r} can be told nothing: users.{name} names nobody on an enabled "
                                f"network ({', '.join(sorted(enabled_kinds)) or 'none'}); give them an entry there")
                continue
            for kind in sorted(enabled_kinds):
                network = networks().get(kind)
                patterns = s.users[name].patterns(kind)
                if network is None or not patterns or network.targets(name, patterns):
                    continue
                hint = f" ({network.reach_hint})" if network.reach_hint else ""
                warnings.append(f"{where}: {name!r} is told nothing on {kind}: no pattern of users.{name}.{kind} "
                                f"({', '.join(patterns)}) names someone to write to; add one that does{hint}")
    return warnings


def shared_senders(s: Settings) -> list[str]:
    """Two users whose patterns both take one sender (the owner's console `*` and a child's
    `root`, the household's `*!*@192.0.2.*` and alice's `alice!*@192.0.2.*`): the hub takes
    such a sender for neither, a stranger, so each was refused as if not in [users] at all, and
    only the log said why. Each pattern is read as a sender the other user's patterns are tried
    on: one that takes it whole (its wildcards too) takes everyone it names."""
    from .auth import Auth
    from .message import Identity

    auth = Auth(s)
    warnings = []
    for name, user in sorted(s.users.items()):
        for other, theirs in sorted(s.users.items()):
            if other == name:
                continue
            for kind in user.identities:
                clash = next(((mine, their) for their in theirs.patterns(kind) for mine in user.patterns(kind)
                              if mine != their and auth.matches(Identity(kind, their), mine)), None)
                if clash is not None:
                    warnings.append(f"users.{name}.{kind}: {clash[0]!r} also takes {other}'s {clash[1]!r}: a sender "
                                    f"both match is taken for neither ({name} nor {other}), a stranger; give each "
                                    "person patterns no one else's take")
    return warnings


def _notify_problems(s: Settings, enabled: set[str]) -> list[str]:
    """Every recipient list (alert rules', automations', [notify]'s, notify tokens'): each entry
    a configured user or an address some enabled adapter can deliver to."""
    from .networks import networks

    lists = recipient_lists(s)
    users = f"users: {', '.join(sorted(s.users))}" if s.users else "no [users] are defined"
    examples = " or ".join([f'"{n.example}"' for n in networks().known.values() if "*" not in n.example][:2])
    from .recipients import notify_default_to
    fallback = notify_default_to(s)
    problems = [f"notify.topics[{i}].to: empty, and so is [notify] default_to, and no user is an admin to fall "
                f"back on: every message on {t.topic} would be dropped; give to = [\"owner\"] here or default_to "
                "in [notify]" for i, t in enumerate(s.notify.topics) if not t.to and not fallback]
    for where, targets in lists:
        for target in targets:
            if ":" in target:
                network, _, address = target.partition(":")
                problem = address_problem(network, address, enabled)
                if problem:
                    problems.append(f"{where}: {target!r}: {problem}")
            elif target not in s.users:
                problems.append(f"{where}: {target!r} is neither a user name nor an address such as {examples}; "
                                + users)
    return problems


def _web_patterns_take(s: Settings, name: str) -> bool:
    """Whether the web chat, acting as `name`, is taken by that user's `web` patterns (the web
    network's own rule: the one the hub judges its senders by)."""
    from .message import Identity
    from .networks import networks

    web = networks().get("web")
    return web is not None and any(web.matches(Identity("web", name), p, s) for p in s.users[name].patterns("web"))


def _expand_roles(roles: dict[str, list[str]], wanted: list[str]) -> frozenset[str]:
    from .auth import expand_roles          # auth imports config, which imports this module
    return expand_roles(roles, wanted)


def never_holds(kind: DeviceType, said: str, condition: Condition | None = None) -> str | None:
    """Why `said` can never hold on a device of type `kind`, or None: a number compared with
    an on/off value (`lampe > 50`: a light's value is on or off, its brightness is no reading),
    a word with a number (`volet = ouvert`: a shutter's value is its position)."""
    from .conditions import STATE_WORDS, Condition

    if condition is None:
        try:
            condition = Condition.parse(said)
        except ValueError:
            return None                          # the rule's own check says why
    if kind in ON_OFF_TYPES and condition.kind not in ("changed", "offline") \
            and not (condition.holds(True, None) or condition.holds(False, None)):
        aside = " (its brightness is no reading)" if kind is DeviceType.LIGHT else ""
        return f"{said!r} never holds: a {kind.value}'s value is on or off{aside}; write \"on\" or \"off\" instead"
    if kind in (DeviceType.COVER, DeviceType.NUMBER, DeviceType.CLIMATE) and condition.kind == "=" \
            and isinstance(condition.threshold, str) and condition.threshold.casefold() not in STATE_WORDS:
        return (f"{said!r} never holds: a {kind.value}'s value is a number (a shutter's is its position in %), "
                f"not a word; write \"on\" (above 0: open), \"off\" (0: closed) or a comparison such as \"> 50\"")
    return None


def _automation_problems(s: Settings) -> list[str]:
    """Owners and devices the automations name must exist (commands are checked by the hub,
    which knows them: chatops.automation_checks.command_problems)."""
    from .conditions import Trigger
    from .schedule import is_window

    problems = []
    for i, auto in enumerate(s.automations):
        owner = auto.owner or s.automations_defaults.owner
        if owner is None:
            problems.append(f"{named_entry('automations', i, auto.name)}: no owner; set owner = \"USER\" here or in "
                            "[automations_defaults]: its commands run as that user, with that user's roles")
        elif owner not in s.users:
            problems.append(f"{named_entry('automations', i, auto.name)}.owner: no user named {owner!r} in [users]")
        entries = ([auto.when] if auto.when else []) + [e for e in auto.only_if if not is_window(e)]
        by_word = {word.casefold(): d for n, d in s.devices.items() for word in (n, *d.aliases)}
        for entry in entries:
            trigger = Trigger.parse(entry)
            device = by_word.get(trigger.device.casefold()) or by_word.get(trigger.device.replace(" ", "_").casefold())
            if device is None:
                problems.append(f"{named_entry('automations', i, auto.name)}: no device named {trigger.device!r} "
                                f"(in {entry!r}); known: {', '.join(sorted(s.devices)) or 'none'}")
            elif why := never_holds(device.type, entry, trigger.condition):
                problems.append(f"{named_entry('automations', i, auto.name)}: {why}")
    names = [a.name for a in s.automations]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(f"automations: two are named {dup!r}")
    return problems


def _shared_identities(s: Settings) -> list[str]:
    """The same pattern given to two users: a sender is one person, and which of the two the
    hub would take them for (whose roles) must not hang on the order of the file."""
    from .networks import networks

    owner: dict[tuple[str, str], str] = {}
    problems = []
    for user, u in s.users.items():
        for network, patterns in u.identities.items():
            known = networks().get(network)
            for pattern in patterns:
                # Compared as the network compares senders: `06 12 34 56 78` is `+33612345678`.
                same = known.canonical(pattern, s) if known is not None else pattern.casefold()
                first = owner.setdefault((network, same), user)
                if first != user:
                    problems.append(f"users.{user}.{network}: {pattern!r} is also {first}'s; a sender is one "
                                    f"person: remove it from one of them")
    return problems


def _identity_problems(user: str, settings: UserSettings) -> list[str]:
    """Each network checks its own `[users.NAME] NETWORK = [...]` patterns."""
    from .networks import networks

    known = networks()
    problems = []
    for name, patterns in settings.identities.items():
        network = known.get(name)
        if network is None and name in known.broken:
            continue                        # a plugin that failed to load: started without, and said
        if network is None:
            close = difflib.get_close_matches(name, known.names, n=1)      # `filechatt`, `iirc`
            meant = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"users.{user}.{name}: unknown key; {meant}{'K' if meant else 'k'}nown keys here: roles, "
                            f"language, pin_env, pin_file, and the networks {', '.join(known.names)}")
            continue
        for pattern in patterns:
            problem = _hook(network.name, "identity_problem", network.identity_problem, pattern)
            if problem:
                problems.append(f"users.{user}.{name}: {problem}")
    return problems


def address_problem(network: str, address: str, enabled: set[str]) -> str | None:
    """Why an alert or notification address can never be delivered, or None (`chatops check`, and
    a notification's unknown recipient over HTTP: the same words). `enabled`: the enabled
    adapters' network kinds and names."""
    from .networks import networks

    known = networks().get(network)
    if known is None and network not in enabled:
        examples = ", ".join(n.example for n in networks().known.values() if n.example)
        return f"unknown network; write one of {examples}"
    if network not in enabled:
        return f"no {network} adapter is enabled, so it could never be delivered; enable [adapters.{network}]"
    if not address:
        return "the address after the colon is empty"
    return _hook(known.name, "address_problem", known.address_problem, address) if known is not None else None


def _hook(network: str, hook: str, check: Callable[[str], str | None], value: str) -> str | None:
    """A network's own check of `value`; one that raises (a plugin's bug) is a sentence naming
    it, not a traceback out of `chatops check` and `run`."""
    try:
        return check(value)
    except Exception as exc:
        from .url_secrets import masked
        return masked(f"the {network} network's {hook} failed on {value!r} ({type(exc).__name__}: {exc}); "
                      f"report it to the plugin's author")


def ca_file_problems(s: Settings) -> list[str]:
    """`[mqtt] ca_file` must be readable, relative to the config's folder: found at start, not
    as a reconnect loop saying "No such file" without naming it."""
    mqtt = s.mqtt
    if not mqtt.ca_file or mqtt.url == "embedded":
        return []
    problem = ca_file_problem("mqtt.", mqtt.ca_file, s.base_dir, "broker")
    return [problem + ", or remove ca_file to trust the system's authorities"] if problem else []


def ca_file_problem(prefix: str, ca_file: str, base_dir: Path, peer: str = "server") -> str | None:
    """Why a section's `ca_file` cannot be read (relative to the config's folder), or None."""
    path = base_dir / ca_file
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        return (f"{prefix}ca_file: cannot read {path} ({exc.strerror or exc}); give the PEM file of the authority "
                f"that signed the {peer}'s certificate")