"""An issuance whose process dies between phase one and the HSM's signature: the real trace of a crash
(an intent, its TBS and a new key, no certificate), made by killing a real process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import DEMO, Deployment

__all__ = ["crash_after_phase_one"]

_CHILD = textwrap.dedent(
    """
    import json, os, signal
    from ca.hsm import KeyAlgorithm
    from ca.issuance import GenerateInHsm, GenerateServiceKey, prepare_issuance, subscriber_order
    from ca.profiles import CertificateKind, parse_request
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    authority = runtime.open_authority_from(load_settings())
    request = parse_request("individual", json.loads(open(os.environ["REQUEST_FILE"], encoding="utf-8").read()))
    order = subscriber_order(authority, CertificateKind.INDIVIDUAL, request, key_in_hsm=True)
    key = GenerateServiceKey if os.environ["KEY_KIND"] == "service" else GenerateInHsm
    prepared = prepare_issuance(authority, order, key(KeyAlgorithm.EC_P256), actor="crash-test")
    print(format(prepared.serial, "x"), prepared.key.key_id.hex(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies after the intent and the TBS, before the HSM signs
    """
)


def crash_after_phase_one(deployment: Deployment, *, service_key: bool = False) -> tuple[str, str]:
    """(serial, key id) of an intent left ``linted`` by a process killed before the HSM signed; the key
    is a holder's credential, or with ``service_key`` a key pair in the service token."""
    env = {
        **deployment.env,
        "REQUEST_FILE": str(DEMO / "official-nguyen-van-anh.json"),
        "KEY_KIND": "service" if service_key else "holder",
    }
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == -9, result.stderr
    serial, key_id = result.stdout.split()
    return serial, key_id
