"""`chatops run | check | simulate | rpc`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import stat
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any, NoReturn

from .config import ConfigError, Settings, adapter_schema, load_settings, loaded_adapter_class
from .config_report import adapter_warnings, check_secrets, config_warnings
from .url_secrets import masked

EXIT_INVALID = 2


def _load(path: Path) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"{path}: the configuration is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def cmd_check(args: argparse.Namespace) -> int:
    from .preflight import data_dir_problem

    settings = _load(args.config)
    problems = check_secrets(settings, console_forced=False)
    for warning in config_warnings(settings) + adapter_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    from .command import PLUGIN_GROUP
    from .entry_points import unread_groups
    from .networks import GROUP
    for warning in unread_groups((PLUGIN_GROUP, GROUP)):
        print(f"warning: {warning}", file=sys.stderr)
    for plugin, why in sorted(_failed_plugins(settings).items()):
        print(f"warning: plugin {plugin} failed to load, and the hub starts without it: {why}", file=sys.stderr)
    if problems:
        print(f"{args.config}: secrets or files the hub reads cannot be used as they are:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    data_dir = data_dir_problem(settings, create=False)
    if data_dir:
        print(f"{args.config}: the hub would not start:", file=sys.stderr)
        print(f"  - {data_dir}", file=sys.stderr)
    # The automations are judged by a hub built from this config, which reads the secrets: with
    # one missing (said above) it would stop on it with a traceback.
    automations, device_warnings = _automation_problems(settings) if not problems else ([], [])
    for warning in device_warnings:
        print(f"warning: automations: {warning}", file=sys.stderr)
    if automations:
        print(f"{args.config}: automations that could not run:", file=sys.stderr)
        for problem in automations:
            print(f"  - automations: {problem}", file=sys.stderr)
    for warning in _device_words_taken(settings):
        print(f"warning: {warning}", file=sys.stderr)
    grants = _unknown_grants(settings)
    if grants and _failed_plugins():
        # The grant may be the permission of a plugin that failed to load: `run` starts without
        # the plugin, as promised, and so does check's verdict; each line says so.
        for problem in grants:
            print(f"warning: {problem} (or the permission of a plugin that failed to load)", file=sys.stderr)
        grants = []
    if grants:
        print(f"{args.config}: role grants that grant nothing:", file=sys.stderr)
        for problem in grants:
            print(f"  - {problem}", file=sys.stderr)
    if problems or data_dir or automations or grants:
        return EXIT_INVALID
    print(f"{args.config}: OK")
    print(f"MQTT: {settings.mqtt.url}")
    print(f"devices ({len(settings.devices)}):")
    for name, device in settings.devices.items():
        where = masked(device.topic or device.snapshot_url or device.snapshot_topic or "")
        aliases = f"aliases: {', '.join(device.aliases)}" if device.aliases else ""
        print(" ".join(filter(None, [f"  {name} [{device.type.value}]", where, aliases])))
    print(f"users ({len(settings.users)}):")
    for name, user in settings.users.items():
        print(f"  {name}: roles {', '.join(user.roles) or 'none'}")
    from .networks import networks
    broken = networks().broken
    enabled = [(n if n == k else f"{n} ({k})") + (" NOT LOADED (see above)" if k in broken else "")
               + (" (from a terminal only)" if s.enabled == "auto" and k == "console" else "")
               for n, k, s in settings.adapter_sections if s.enabled]
    enabled += ["web"] if settings.web.enabled else []
    print(f"adapters enabled: {', '.join(enabled) or 'none'}")
    print(f"alert rules: {', '.join(a.name for a in settings.alerts) or 'none'}")
    print(f"automations: {', '.join(a.name for a in settings.automations) or 'none'}")
    return 0


def _automation_problems(settings: Settings) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the automations' commands: lines that do not parse or that their
    owner may not run, and lines naming a device the config lacks (the hub's own router and
    access rules judge them, as they will at run time)."""
    if not settings.automations:
        return [], []
    from .automation_checks import command_problems
    from .hub import Hub

    return command_problems(Hub(settings, tty=False))


def _failed_plugins(settings: Settings | None = None) -> dict[str, str]:
    """Plugins (networks and command modules) left out of this installation, and why; with
    `settings`, the enabled networks' adapters are imported first, as `run` would."""
    from .command import command_modules
    from .networks import networks

    for kind in {kind for _, kind, section in (settings.adapter_sections if settings else []) if section.enabled}:
        loaded_adapter_class(kind)
    return {**networks().broken, **command_modules()[1]}


def _device_words_taken(settings: Settings) -> list[str]:
    """Device names and aliases that are also a command's word (a plugin's `weather`, a device
    called `status`): a line starting with one runs the command, so `status on` never switched
    that device, and nothing said why."""
    from .auth import fold
    from .command import CommandSet

    commands = CommandSet.from_modules()
    taken = []
    for name, device in settings.devices.items():
        for word in (name, *device.aliases):
            spec = commands.find(word)
            if spec is not None:
                taken.append(f"devices.{name}: {word!r} is also the command {spec.name!r}, so `{word} on` runs "
                             f"that command, not this device; give the device another name or alias "
                             f"(`read {fold(name)}` still reads it)")
    return taken


def _unknown_grants(settings: Settings) -> list[str]:
    """Role grants that name no command (a typo in [roles] silently grants nothing: a family
    whose `swtich` would never switch), each with the closest name."""
    import difflib

    from .command import CommandSet

    commands = CommandSet.from_modules()
    names = {spec.permission for spec in commands.specs}
    needs = {spec.name: spec.permission for spec in commands.specs if spec.permission != spec.name}
    problems = []
    for role, grants in settings.roles.items():
        for grant in grants:
            if grant == "*" or grant in settings.roles or grant in names:
                continue
            if grant in needs:              # `dim`, `in`: commands that use another word's permission
                problems.append(f"roles.{role}: {grant!r} is a command, not a permission: it needs "
                                f"{needs[grant]!r}; grant that instead")
                continue
            close = difflib.get_close_matches(grant, [*names, *settings.roles], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"roles.{role}: {grant!r} is neither a permission nor a role; {hint}"
                            f"permissions: {', '.join(sorted(names))}")
    return problems


def _with_console(settings: Settings) -> Settings:
    """`--console` starts the console whatever the file says: one is added when it has none."""
    if any(kind == "console" for _, kind, _ in settings.adapter_sections):
        return settings
    console = adapter_schema("console")()
    return settings.model_copy(update={"adapter_sections": (*settings.adapter_sections,
                                                            ("console", "console", console))})


def _piped_in() -> bool:
    """Whether standard input is a pipe or a file (not a terminal, not /dev/null as under systemd)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if args.console:
        settings = _with_console(settings)
    else:
        terminal = sys.stdin.isatty()
        console_on = any(kind == "console" for _, kind, _ in settings.enabled_adapters(tty=terminal))
        if not console_on and _piped_in():
            print("chatops: the console is off, so commands piped in are not read; "
                  "add --console (chatops run --console) to read commands from standard input", file=sys.stderr)
        elif not console_on and terminal:
            # Quiet logs are for someone talking to the console; here they are all that shows the hub is up.
            has_section = any(kind == "console" for _, kind, _ in settings.adapter_sections)
            why = "its [adapters.console] has enabled = false" if has_section else "no [adapters.console] section"
            print(f"chatops: the console is off ({args.config}: {why}), so what is typed here is not read; "
                  "add --console to talk to the hub here. Ctrl-C stops it; the log follows.", file=sys.stderr)
            if not args.quiet and not args.verbose:
                logging.getLogger().setLevel(logging.INFO)
    problems = check_secrets(settings, console_forced=args.console)
    if problems:
        for problem in problems:
            print(f"config: {problem}", file=sys.stderr)
        return EXIT_INVALID
    for warning in config_warnings(settings):
        logging.getLogger("chatops").warning("%s", warning)
    # What `check` refuses, `run` says at each start: a house is not left silent over a typo in
    # [roles], nor is the typo silent (the guest who lacks `help` would never know why).
    for problem in _unknown_grants(settings):
        logging.getLogger("chatops").warning("%s; until then it grants nothing", problem)
    return asyncio.run(_run(settings, args.console))


async def _run(settings: Settings, console: bool) -> int:
    from .hub import Hub, StartupError

    hub = Hub(settings, console=console)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, hub.stop)
    try:
        await hub.run()
    except StartupError as exc:
        if len(exc.problems) == 1:
            print(f"chatops cannot start: {exc.problems[0]}", file=sys.stderr)
        else:
            print("chatops cannot start:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID if exc.lasting else 1
    except ConfigError as exc:              # found only as the hub starts: said as check says it
        print("chatops cannot start:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    return 0


# What `chatops simulate` prints, on and off, for each of chatops.sim's TRIGGERS.
SIMULATED = {"smoke": ("simulated smoke detected in the kitchen", "simulated smoke cleared in the kitchen"),
             "motion": ("simulated motion in the hall", "simulated an empty hall")}


def cmd_simulate(args: argparse.Namespace) -> int:
    """Publish to a simulated device's command topic on the configured broker (as chat's `simulate`)."""
    settings = _load(args.config)
    return asyncio.run(_simulate(settings, args.device, args.state == "on"))


async def _simulate(settings: Settings, what: str, on: bool) -> int:
    import aiomqtt

    from .mqtt import broker_address, tls_context
    from .sim import trigger

    if settings.mqtt.url == "embedded" and settings.mqtt.embedded_listen.endswith(":0"):
        # A free port the running hub chose: not in the file.
        print("cannot tell which port the broker listens on: [mqtt] embedded_listen asks for any free port "
              "(:0); give it a port (embedded_listen = \"127.0.0.1:1883\") to use chatops simulate",
              file=sys.stderr)
        return 2
    try:
        address = broker_address(settings.mqtt, settings.base_dir, data_dir=settings.data_dir)
    except OSError as exc:                # the embedded broker's secret, in a folder of the hub's user
        print(f"cannot read the embedded broker's secret in {settings.data_dir} ({exc.strerror}); run this as "
              "the user the hub runs as (sudo -u chatops chatops simulate ...)", file=sys.stderr)
        return 1
    try:
        async with aiomqtt.Client(address.host, address.port, username=address.username, password=address.password,
                                  tls_context=tls_context(address), timeout=5) as client:
            _, command_topic, payload = trigger(settings.simulator.base_topic, what, on)
            await client.publish(command_topic, payload, qos=1)
    except aiomqtt.MqttError as exc:
        print(f"cannot reach the MQTT broker at {address.host}:{address.port}: {exc} (is the hub running?)",
              file=sys.stderr)
        return 1
    print(SIMULATED[what][0 if on else 1])
    return 0


def _add_network_subcommands(sub: Any) -> None:
    """The subcommands networks bring (XMPP: `rpc`). Only read when the command line asks for
    one, or for help: their clients are not loaded by `chatops run` (the XMPP one is 0.9 MiB)."""
    from .networks import networks

    for network in networks().known.values():
        if network.cli:
            try:
                network.cli_adder()(sub)
            except ImportError as exc:
                if (exc.name or "").split(".")[0] in network.requires:   # its extra is not installed: not offered
                    logging.getLogger(__name__).debug("no %s subcommands: %s", network.name, exc)
                    continue
                print(f"warning: the {network.name} plugin's subcommands are left out: {network.cli} cannot "
                      f"import {exc.name or exc} (not among its requires: a plugin's bug, or install it)",
                      file=sys.stderr)
            except Exception as exc:                # a plugin's bug must not take `chatops --help` down with it
                print(f"warning: the {network.name} plugin's subcommands are left out: "
                      f"{network.cli} raised {type(exc).__name__}: {masked(str(exc))}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """The top-level parser. The networks' subcommands are added only when asked for (their
    clients cost memory), so before an error prints the usage line they are added to it: a
    mistyped option must not hide `rpc` from the list."""

    complete: Callable[[], None] | None = None

    def error(self, message: str) -> NoReturn:
        complete, self.complete = self.complete, None
        if complete is not None:
            complete()
        super().error(message)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="chatops", description="A chat-ops hub for the home.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"chatops {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default ./config.toml)")

    run = sub.add_parser("run", help="run the hub")
    with_config(run)
    run.add_argument("--console", action="store_true", help="read commands from standard input")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate the config file (exit 0 valid, 2 invalid)")
    with_config(check)
    check.set_defaults(func=cmd_check)
    simulate = sub.add_parser("simulate", help="fire or clear the simulated smoke detector, or walk into the hall")
    with_config(simulate)
    simulate.add_argument("device", choices=sorted(SIMULATED))
    simulate.add_argument("state", choices=["on", "off"], nargs="?", default="on")
    simulate.set_defaults(func=cmd_simulate)
    from .notify_cli import add_parser as add_notify
    add_notify(sub)
    for name in ("run", "check", "simulate"):
        # Also after the subcommand: `scripts/demo -v` runs `chatops run --config config.toml -v`.
        # SUPPRESS: not given there, the value before the subcommand stands.
        sub.choices[name].add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                       help="debug logging")
        sub.choices[name].add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                                       help="warnings and errors only")
    wanted = next((word for word in (argv if argv is not None else sys.argv[1:]) if not word.startswith("-")), None)
    if wanted not in sub.choices:                     # not a core subcommand: perhaps a network's
        _add_network_subcommands(sub)
    else:
        parser.complete = lambda: _add_network_subcommands(sub)
    args = parser.parse_args(argv)
    # Someone typing at the console wants answers, not log lines between them.
    console = getattr(args, "console", False) or (args.command == "run" and sys.stdin.isatty())
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet or console else logging.INFO
    from .log_format import configure
    configure(level, sys.stderr)
    from .command import CommandClash
    try:
        return int(args.func(args) or 0)
    except CommandClash as exc:          # two installed packages claim one command word: lasting, like a bad config
        print(f"chatops cannot start: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:              # `chatops check | head -1`: the reader had enough, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
