"""Chat network adapters; the hub imports only the ones config.toml enables.

`SHIPPED` names the networks this package brings, in the order people meet them, exactly as
its `chatops.adapters` entry points in pyproject.toml do (tests/test_networks.py keeps the two
equal). The hub reads the entry points; this list is what it falls back on when the package
metadata is missing (a source checkout run without `pip install -e`), so that the core itself
never has to name a network.
"""

SHIPPED = {
    "console": "adapters.console_network:NETWORK",
    "irc": "adapters.irc_network:NETWORK",
    "xmpp": "adapters.xmpp_network:NETWORK",
    "slack": "adapters.slack_network:NETWORK",
    "sms": "adapters.sms_network:NETWORK",
    "email": "adapters.email_network:NETWORK",
    "matrix": "adapters.matrix_network:NETWORK",
    "telegram": "adapters.telegram_network:NETWORK",
    "loopback": "adapters.loopback:NETWORK",
}
