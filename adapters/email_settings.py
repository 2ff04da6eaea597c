"""[adapters.email]: the schema of the email adapter's section, checked before anything
connects and without the SMTP library (the hub loads aiosmtplib only once email is enabled)."""

from __future__ import annotations

from enum import Enum

from chatops.schema import Field, model_validator

from chatops.config import AdapterSettings, Duration, is_loopback

from .email_network import ADDRESS


class Security(str, Enum):
    STARTTLS = "starttls"       # port 587: plain connection, then STARTTLS before anything is said
    TLS = "tls"                 # port 465 (SMTPS): TLS from the first byte
    NONE = "none"               # no encryption: a loopback relay only


class Settings(AdapterSettings):
    """[adapters.email]: the SMTP server mail goes out through, and who it comes from."""

    host: str = Field(examples=['"smtp.example.org"'],
                      description="the SMTP server (your provider's submission server, or a local relay)")
    port: int | None = Field(None, ge=1, le=65535, examples=["587"],
                             description="default: 587 for starttls, 465 for tls, 25 for none")
    security: Security = Field(Security.STARTTLS, examples=['"starttls"', '"tls"'],
                               description="`\"starttls\"` (port 587), `\"tls\"` (SMTPS, port 465), or `\"none\"` (loopback relay only)")
    ca_file: str = Field("", examples=['"/etc/ssl/my-ca.pem"'], description="extra CA for a private server")
    username: str | None = Field(None, examples=['"maison@example.org"'],
                                 description="login on the SMTP server; none: send without logging in")
    password_env: str | None = Field(None, examples=['"SMTP_PASSWORD"'],
                                     description="environment variable holding the SMTP password")
    password_file: str | None = Field(None, examples=['"/etc/chatops/smtp.pass"'],
                                      description="file holding the SMTP password")
    sender: str = Field(examples=['"maison@example.org"'], description="the From address")
    timeout: Duration = Field(30.0, gt=0, examples=['"30s"'],
                              description="the connection check at start, and a mail's whole SMTP session "
                                          "(there at most 25s, within the outbox's wait): longer fails, is "
                                          "retried, and marks the server down")
    reconnect_max: Duration = Field(300.0, gt=0, examples=['"5m"'],
                                    description="longest wait between two tries of a server that is down")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not ADDRESS.fullmatch(self.sender):
            raise ValueError(f"sender {self.sender!r} is not an email address such as \"maison@example.org\"")
        if self.security is Security.NONE and not is_loopback(self.host):
            raise ValueError("security = \"none\" sends mail (and the password) unencrypted; it is only accepted "
                             "for a loopback host such as a local relay on 127.0.0.1")
        if self.username and not (self.password_env or self.password_file):
            raise ValueError("username needs a password: password_env = \"SMTP_PASSWORD\" or password_file = \"/path\"")
        if (self.password_env or self.password_file) and not self.username:
            # Mail went out without logging in, the password unused; a provider then refuses it (530).
            raise ValueError("a password needs the login it goes with: username = \"maison@example.org\"")
        return self

    @property
    def real_port(self) -> int:
        if self.port is not None:
            return self.port
        return {Security.STARTTLS: 587, Security.TLS: 465, Security.NONE: 25}[self.security]
