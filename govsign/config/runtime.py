"""Wiring from settings to the domain: database, migrations, tokens, the Authority, and `govsign init`.

The CLI and the HTTP app both build what they need through these functions, so there is one place where
settings turn into objects.
"""

from __future__ import annotations

import os
import pwd
import secrets
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import select

from ca.authority import Authority, ca_key, open_authority
from ca.ceremony import CeremonyResult, load_ceremony, run_ceremony
from ca.crl import ROOT_CRL_VALIDITY, PublishedCrl, publish_crl
from ca.errors import ConfigurationError
from ca.hsm import Token, open_token, open_token_as
from ca.hsm.vault import PEPPER_LABEL, KeyVault, create_trusted_kek
from ca.softhsm import provision_token, render_configuration, token_exists
from ca.sqlite_engine import keep_sqlite_files_private
from ca.store import CaRecord, Database
from govsign.config.settings import Settings, load_settings, read_secret_file, write_secret_file

if TYPE_CHECKING:
    from govsign.access.approvals import Executor

__all__ = [
    "approval_executors",
    "database",
    "initialise",
    "key_vault",
    "migrate",
    "open_authority_from",
    "prepare_key_vault",
    "provision_softhsm_tokens",
    "publish_root_crl",
    "root_token",
    "root_token_label",
    "service_token",
]

_databases: dict[str, Database] = {}


def _operator() -> str:
    """Who the audit log (and dual control) names for a command typed on the server: the real OS user, or
    for root the user sudo ran it for. Environment variables like USER are not trusted."""
    uid = os.getuid()
    name = pwd.getpwuid(uid).pw_name
    if uid == 0 and os.environ.get("SUDO_USER"):
        name = os.environ["SUDO_USER"]
    return f"cli:{name}"


OPERATOR = _operator()


def database(settings: Settings) -> Database:
    """The process's Database for the configured URL."""
    url = settings.database
    if url not in _databases:
        _databases[url] = Database(url)
    return _databases[url]


def _private_home(settings: Settings) -> None:
    """GOVSIGN_HOME holds PIN files, SoftHSM2's tokens and the SQLite database: owner only (0700), made so
    whatever the umask, and narrowed if it was made wider before."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.home.stat().st_mode & 0o077:
        settings.home.chmod(0o700)


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest Alembic revision (a SQLite file is created owner-only first)."""
    # Imported here: Alembic brings Mako and Pygments (~0.5 s of CPU), which no server worker needs, and
    # every worker's start is on the clock (govsign.cli.serve).
    from alembic import command
    from alembic.config import Config

    if settings.database.startswith("sqlite"):
        _private_home(settings)
        keep_sqlite_files_private(settings.database)
    # The migrations ship inside the package (govsign/db/migrations), so this works from a wheel as well as
    # from a checkout; Alembic reads them as files, hence as_file.
    with as_file(files("govsign.db") / "migrations") as location:
        config = Config()
        config.set_main_option("script_location", str(location))
        config.set_main_option("sqlalchemy.url", settings.database.replace("%", "%%"))
        command.upgrade(config, "head")


def service_token(settings: Settings) -> Token:
    return open_token(settings.pkcs11_module, settings.token_label, settings.service_pin())


def key_vault(settings: Settings) -> KeyVault | None:
    """The keys token (subscriber keys), or None for a deployment made before it existed."""
    pin = settings.keys_pin()
    return None if pin is None else open_token_as(KeyVault, settings.pkcs11_module, settings.keys_label, pin)


def open_authority_from(settings: Settings) -> Authority:
    return open_authority(
        database(settings), service_token(settings), settings.public_url, key_vault(settings)
    )


def prepare_key_vault(settings: Settings) -> bool:
    """Ceremony step: the keys token (SoftHSM2: created here), its trusted KEK made by the token's security
    officer, and the activation pepper. Safe to run again; True when something was created.

    Runs before any user session of this process opens the keys token (the SO logs in here).
    """
    created = False
    if settings.uses_softhsm:
        configuration = Path(os.environ.get("SOFTHSM2_CONF") or settings.home / "softhsm2.conf")
        if not token_exists(configuration, settings.keys_label):
            pin = _new_secret(settings.keys_pin_path, given=settings.keys_token_pin)
            provision_token(configuration, settings.keys_label, pin, _new_secret(settings.keys_so_pin_path))
            created = True
    made = create_trusted_kek(
        settings.pkcs11_module,
        settings.keys_label,
        lambda: read_secret_file(settings.keys_so_pin_path, "the keys token SO PIN"),
    )
    if made and settings.uses_softhsm:
        # The SO PIN could make another trusted key that wraps holders' keys: once the KEK exists it is not
        # kept beside the service (a vendor HSM's SO PIN lives on the ceremony's offline medium anyway).
        settings.keys_so_pin_path.unlink(missing_ok=True)
    created |= made
    vault = key_vault(settings)
    if vault is None:
        raise ConfigurationError(f"no PIN for the keys token {settings.keys_label!r}")
    vault.ensure_hmac_key(PEPPER_LABEL)
    return created


def authority_from_environment() -> Authority:
    """The Authority of the GOVSIGN_* environment: what spawned worker processes call to start."""
    return open_authority_from(load_settings())


def provision_softhsm_tokens(settings: Settings, root_label: str) -> None:
    """Create the root and service tokens under GOVSIGN_HOME with fresh PINs, unless they exist."""
    configuration = Path(os.environ.get("SOFTHSM2_CONF") or settings.home / "softhsm2.conf")
    render_configuration(settings.softhsm_template, configuration, configuration.parent / "tokens")
    wanted = [
        (root_label, settings.root_pin_path, settings.home / "ceremony" / "root-token.so-pin"),
        (
            settings.token_label,
            settings.service_pin_path,
            settings.home / "ceremony" / "service-token.so-pin",
        ),
    ]
    for label, pin_path, so_pin_path in wanted:
        if token_exists(configuration, label):
            continue
        pin = _new_secret(pin_path, given=settings.token_pin if label == settings.token_label else None)
        provision_token(configuration, label, pin, _new_secret(so_pin_path))


def _new_secret(path: Path, given: SecretStr | None = None) -> str:
    """The PIN given by the environment (never written to disk), else the one in ``path``, else a new one there."""
    if given is not None:
        return given.get_secret_value()
    if path.exists():
        return read_secret_file(path, "PIN")
    value = secrets.token_urlsafe(18)
    write_secret_file(path, value)
    return value


def root_token(settings: Settings, pin: str | None = None) -> Token:
    """The root CA's token, for a ceremony act: opened with ``pin`` or the deployment's root PIN file."""
    given = pin if pin is not None else read_secret_file(settings.root_pin_path, "the root token PIN")
    return open_token(settings.pkcs11_module, root_token_label(settings), given)


def publish_root_crl(settings: Settings, *, actor: str) -> PublishedCrl:
    """Sign the root's next CRL with the root token: a ceremony act (as is an issuing CA's rollover)."""
    token = root_token(settings)
    authority = open_authority_from(settings)
    with authority.database.transaction() as session:
        record = session.execute(select(CaRecord).where(CaRecord.kind == "root-ca")).scalar_one()
    return publish_crl(
        authority.database,
        ca_key(record, token),
        audit_token=authority.token,
        validity=ROOT_CRL_VALIDITY,
        actor=actor,
    )


def approval_executors(settings: Settings) -> dict[str, Executor]:
    """What runs approved actions in this deployment (the root CRL with its root token)."""
    # Imported here: the approvals bring pyHanko's validator (~55 MB and a second of imports), which a
    # process that only opens the Authority (a CRL build, a script) does not need.
    from govsign.access.controlled_actions import executors

    return executors(lambda actor: publish_root_crl(settings, actor=actor))


def root_token_label(settings: Settings) -> str:
    ceremony = load_ceremony(settings.ceremony_file)
    return ceremony.root.token_label or f"{ceremony.root.name}-token"


def initialise(settings: Settings) -> CeremonyResult:
    """`govsign init`: tokens (SoftHSM2 only), schema, and the CA hierarchy of the ceremony file."""
    ceremony = load_ceremony(settings.ceremony_file)
    root_label = root_token_label(settings)
    _private_home(settings)
    if settings.uses_softhsm:
        provision_softhsm_tokens(settings, root_label)
    prepare_key_vault(settings)
    migrate(settings)
    return run_ceremony(
        database(settings), root_token(settings), service_token(settings), ceremony, settings.public_url
    )
