"""Configuration from GOVSIGN_* environment variables (DESIGN.md, interface contract)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ca.errors import ConfigurationError

__all__ = ["Settings", "load_settings"]

# The default ceremony file and SoftHSM2 template ship inside the package, so an installed govsign finds
# them wherever it runs (a wheel installs as files); hsm_config/ in a checkout is the operator's copy.
PACKAGED_DEFAULTS = Path(str(files("govsign") / "defaults"))
DEFAULT_PKCS11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class Settings(BaseSettings):
    """Every setting is optional; the defaults make a working single-machine demo under ./var."""

    model_config = SettingsConfigDict(env_prefix="GOVSIGN_", extra="ignore")

    home: Path = Path("./var")
    database_url: str | None = None
    pkcs11_module: str = DEFAULT_PKCS11_MODULE
    token_label: str = "govsign-service"
    token_pin: SecretStr | None = None
    token_pin_file: Path | None = None
    root_token_pin_file: Path | None = None
    # The keys token of the signature activation module (docs/SOLE-CONTROL.md): the KEK that wraps every
    # subscriber key and the activation pepper, apart from the CA's keys and with a PIN of its own.
    keys_token_label: str | None = None  # default: the service token's label + "-keys"
    keys_token_pin: SecretStr | None = None
    keys_token_pin_file: Path | None = None
    public_url: str = "http://ca.govsign.vn:8000"
    maintenance_interval_seconds: float = 30.0  # CRL publication after a revocation, OCSP refresh
    max_document_mb: int = 512  # the largest PDF accepted for signing
    sign_time_limit_seconds: float = Field(default=60.0, gt=0)  # opening and signing one PDF, at most
    verify_rate_per_second: float = 2.0  # public validations per client address, sustained ...
    verify_burst: int = 20  # ... and in a burst
    ceremony_file: Path = PACKAGED_DEFAULTS / "ceremony.toml"
    softhsm_template: Path = PACKAGED_DEFAULTS / "softhsm2.conf"
    max_verify_mb: int | None = None  # the largest PDF accepted for validation (default: max_document_mb)
    body_idle_seconds: float = 30.0  # a request body that sends nothing for this long is dropped (408)
    trusted_proxies: str = ""  # comma-separated proxy addresses whose X-Forwarded-For is believed
    tsa_rate_per_second: float = 20.0  # time-stamps per client address, sustained ...
    tsa_burst: int = 50  # ... and in a burst
    refused_rate_per_second: float = 2.0  # refused API calls (401/403) per client address before 429 ...
    refused_burst: int = 200  # ... and in a burst
    refusal_audit_seconds: float = 60.0  # repeated refusals: one audit entry per client and window
    # The validator's fetches (signing/fetch_policy.py): origins trusted whatever they resolve to, as
    # comma-separated host:port; the largest CRL and certificate or OCSP answer read; seconds per validation
    fetch_allowlist: str = ""
    fetch_crl_max_bytes: int = 10 * 2**20
    fetch_response_max_bytes: int = 64 * 2**10
    fetch_budget_seconds: float = 20.0
    # How long a finished API or console batch keeps its uploaded and signed documents on the server
    # (fractions allowed); the maintenance loop then deletes them and the batch reports "expired".
    batch_retention_days: float = Field(default=7.0, gt=0)
    # Logs (govsign.config.logs): one JSON object per line, or text for a person at a terminal; the access
    # log (a line per request: method, route, status, duration, request id) costs time on the OCSP path.
    log_format: Literal["json", "text"] = "text"
    access_log: bool = False

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'govsign.db').resolve()}"

    @property
    def max_document_bytes(self) -> int:
        return self.max_document_mb * 2**20

    @property
    def max_verify_bytes(self) -> int:
        return (self.max_verify_mb or self.max_document_mb) * 2**20

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [address.strip() for address in self.trusted_proxies.split(",") if address.strip()]

    @property
    def uses_softhsm(self) -> bool:
        return "softhsm" in Path(self.pkcs11_module).name

    @property
    def service_pin_path(self) -> Path:
        return self.token_pin_file or self.home / "service-token.pin"

    @property
    def root_pin_path(self) -> Path:
        """Read only by ceremony commands; a production root PIN lives on an offline medium, not here."""
        return self.root_token_pin_file or self.home / "ceremony" / "root-token.pin"

    @property
    def keys_label(self) -> str:
        return self.keys_token_label or f"{self.token_label}-keys"

    @property
    def keys_pin_path(self) -> Path:
        return self.keys_token_pin_file or self.home / "keys-token.pin"

    @property
    def keys_so_pin_path(self) -> Path:
        """The keys token's security officer PIN: needed once, to make the trusted KEK at the ceremony."""
        return self.home / "ceremony" / "keys-token.so-pin"

    def keys_pin(self) -> str | None:
        """The keys token PIN, or None for a deployment that has no keys token yet."""
        if self.keys_token_pin is not None:
            return self.keys_token_pin.get_secret_value()
        if not self.keys_pin_path.exists():
            return None
        return read_secret_file(self.keys_pin_path, "the keys token PIN")

    def service_pin(self) -> str:
        if self.token_pin is not None:
            return self.token_pin.get_secret_value()
        return read_secret_file(self.service_pin_path, "the service token PIN")

    def export_softhsm_configuration(self) -> None:
        """Point SoftHSM2 at this deployment's token folder before the PKCS#11 library is loaded."""
        if self.uses_softhsm and "SOFTHSM2_CONF" not in os.environ:
            os.environ["SOFTHSM2_CONF"] = str((self.home / "softhsm2.conf").resolve())


def read_secret_file(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigurationError(f"{what} file {path} does not exist: run `govsign init` first") from None
    if not value:
        raise ConfigurationError(f"{what} file {path} is empty")
    return value


def write_secret_file(path: Path, value: str) -> None:
    """Create ``path`` with mode 0600 and ``value``; never overwrite an existing secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def load_settings() -> Settings:
    settings = Settings()
    settings.export_softhsm_configuration()
    return settings
