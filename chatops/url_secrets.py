"""Passwords written inside URLs (`http://admin:hunter2@camera/`): refused in the config, where
secrets never go, and masked wherever a URL is shown (errors, listings, logs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^/\s:@]*):[^@\s/]*@")


def masked(text: str) -> str:
    """`text` with the password of every URL in it replaced by ****."""
    return _USERINFO_PASSWORD.sub(r"\g<head>:****@", text)


def without_password(url: str | None, fix: str) -> str | None:
    """`url` unchanged, or ValueError when it holds a password: a secret written in config.toml,
    shown by `chatops check` and kept in every copy of the file. `fix` says where it goes."""
    if url is not None:
        try:
            password = urlsplit(url).password
        except ValueError:          # a port that is no number: left to the field's other checks
            password = None
        if password is not None:
            raise ValueError(f"a password written in the URL is a secret, and secrets never go in config.toml: {fix}")
    return url
