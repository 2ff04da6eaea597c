"""Chat network adapters; the hub imports only the ones config.toml enables."""
