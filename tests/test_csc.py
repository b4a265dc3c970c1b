"""The CSC remote-signing API of a real `govsign serve` (SoftHSM2, SQLite and PostgreSQL): every raw
signature of signatures/signHash judged by `openssl pkeyutl -verify`; SADs used once, only for their
hashes, not after their expiry; another official's token sees and uses nothing; wrong PINs lock; the TOTP
second factor; the spec's error JSON throughout. pyHanko's CSCSigner: tests/test_csc_pyhanko.py."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import httpx
import pyotp
import pytest
from asn1crypto import algos
from sqlalchemy import update

from ca.activation import MAX_ATTEMPTS, ActivationGrant
from ca.activation.sealing import sad_digest
from ca.store import utc_now
from govsign.access.console_auth import enrol
from tests.conftest import HOLDER_PIN, Deployment, administrator_token, running_server
from tests.csc_client import (
    ECDSA_SHA256,
    RSASSA_PSS,
    SHA256,
    SHA256_RSA,
    Official,
    assert_csc_error,
    authorize,
    b64,
    call,
    entries_of,
    new_official,
    officials_of,
    openssl_verifies,
    sign_hash,
)


@pytest.fixture(scope="module")
def officials(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Official]:
    return officials_of(sqlite_deployment, tmp_path_factory.mktemp("officials"))


# -- signHash judged by openssl ---------------------------------------------------------------------------


def pss_params(salt: int = 32) -> str:
    params = algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": salt,
        }
    )
    return b64(params.dump())


PSS_OPTIONS = ["rsa_padding_mode:pss", "rsa_pss_saltlen:32", "digest:sha256", "rsa_mgf1_md:sha256"]


@pytest.mark.parametrize(
    ("algorithm", "request_fields", "openssl_options"),
    [
        ("rsa2048", {"signAlgo": SHA256_RSA}, ["digest:sha256"]),
        ("rsa2048", {"signAlgo": "1.2.840.113549.1.1.1", "hashAlgorithmOID": SHA256}, ["digest:sha256"]),
        ("rsa2048", {"signAlgo": RSASSA_PSS, "hashAlgorithmOID": SHA256}, PSS_OPTIONS),
        ("rsa2048", {"signAlgo": RSASSA_PSS, "signAlgoParams": pss_params()}, PSS_OPTIONS),
        ("ec-p256", {"signAlgo": ECDSA_SHA256}, ["digest:sha256"]),
    ],
    ids=["rsa-pkcs1v15", "rsa-pkcs1v15-key-oid", "rsa-pss-default", "rsa-pss-params", "ecdsa"],
)
def test_sign_hash_signatures_verify_with_openssl(
    algorithm: str,
    request_fields: dict[str, str],
    openssl_options: list[str],
    officials: dict[str, Official],
    public_server: str,
    tmp_path: Path,
) -> None:
    official = officials[algorithm]
    hashes = [hashlib.sha256(f"văn bản {i} {request_fields}".encode()).digest() for i in range(3)]
    sad = authorize(public_server, official, hashes, hashAlgorithmOID=SHA256)
    answer = sign_hash(public_server, official, sad, hashes, **request_fields)
    assert answer.status_code == 200, answer.text
    signatures = [base64.b64decode(s) for s in answer.json()["signatures"]]
    assert len(signatures) == 3
    for digest, signature in zip(hashes, signatures, strict=True):
        assert openssl_verifies(official.certificate_pem, digest, signature, openssl_options, tmp_path)
    assert not openssl_verifies(official.certificate_pem, hashes[1], signatures[0], openssl_options, tmp_path)


def test_sign_hash_refuses_pss_parameters_and_schemes_the_key_cannot_make(
    officials: dict[str, Official], public_server: str
) -> None:
    rsa, ec = officials["rsa2048"], officials["ec-p256"]
    digest = hashlib.sha256(b"tham so PSS").digest()
    sad = authorize(public_server, rsa, [digest])
    refused = sign_hash(public_server, rsa, sad, [digest], signAlgo=RSASSA_PSS, signAlgoParams=pss_params(20))
    assert_csc_error(refused, 400, "invalid_request", "salt as long as the hash")
    refused = sign_hash(public_server, rsa, sad, [digest], signAlgo=ECDSA_SHA256)
    assert_csc_error(refused, 400, "invalid_request", "does not fit a rsa2048 key")
    assert sign_hash(public_server, rsa, sad, [digest], signAlgo=SHA256_RSA).status_code == 200  # not spent
    sad = authorize(public_server, ec, [digest])
    assert_csc_error(
        sign_hash(public_server, ec, sad, [digest], signAlgo="1.2.3"), 400, "invalid_request", "signAlgo"
    )


# -- SADs: once, for their hashes, for five minutes --------------------------------------------------------


def test_a_sad_signs_once_only_its_hashes_and_not_after_it_expires(
    officials: dict[str, Official], sqlite_deployment: Deployment, public_server: str
) -> None:
    official = officials["ec-p256"]
    first, second = hashlib.sha256(b"mot").digest(), hashlib.sha256(b"hai").digest()
    sad = authorize(public_server, official, [first])
    assert_csc_error(
        sign_hash(public_server, official, sad, [second]), 400, "invalid_request", "Invalid parameter SAD"
    )
    assert sign_hash(public_server, official, sad, [first]).status_code == 200
    assert_csc_error(sign_hash(public_server, official, sad, [first]), 400, "invalid_request", "used already")

    sad = authorize(public_server, official, [second])
    with sqlite_deployment.authority.database.transaction() as session:
        session.execute(
            update(ActivationGrant)
            .where(ActivationGrant.sad_sha256 == sad_digest(sad))
            .values(expires_at=utc_now() - dt.timedelta(seconds=1))
        )
    assert_csc_error(sign_hash(public_server, official, sad, [second]), 400, "invalid_request", "expired")
    sha384 = {"signAlgo": "1.2.840.10045.4.3.3"}
    sad = authorize(public_server, official, [second])
    refused = sign_hash(public_server, official, sad, [hashlib.sha384(b"hai").digest()], **sha384)
    assert_csc_error(refused, 400, "invalid_request", "Invalid parameter SAD")


# -- whose credential ------------------------------------------------------------------------------------


def test_another_officials_token_can_neither_see_nor_use_the_credential(
    officials: dict[str, Official], sqlite_deployment: Deployment, public_server: str, tmp_path: Path
) -> None:
    owner, other = officials["ec-p256"], new_official(sqlite_deployment, tmp_path)
    listed = call(public_server, "v1/credentials/list", other.token, {})
    assert listed.json() == {"credentialIDs": [other.credential_id]}
    assert owner.credential_id not in call(public_server, "v2/credentials/list", other.token, {}).text
    mine = call(public_server, "v1/credentials/list", owner.token, {}).json()["credentialIDs"]
    assert mine == [owner.credential_id]

    digest = hashlib.sha256(b"cua nguoi khac").digest()
    as_other = {"credentialID": owner.credential_id, "certificates": "chain"}
    for version in ("v1", "v2"):
        refused = call(public_server, f"{version}/credentials/info", other.token, as_other)
        assert_csc_error(refused, 400, "invalid_request", "Invalid parameter credentialID")
    body = {**as_other, "numSignatures": 1, "hashes": [b64(digest)], "PIN": HOLDER_PIN}
    refused = call(public_server, "v2/credentials/authorize", other.token, body)
    assert_csc_error(refused, 400, "invalid_request", "Invalid parameter credentialID")
    sad = authorize(public_server, owner, [digest])
    stolen = {
        "credentialID": owner.credential_id,
        "SAD": sad,
        "hash": [b64(digest)],
        "signAlgo": ECDSA_SHA256,
    }
    refused = call(public_server, "v1/signatures/signHash", other.token, stolen)
    assert_csc_error(refused, 400, "invalid_request", "Invalid parameter credentialID")
    assert sign_hash(public_server, owner, sad, [digest]).status_code == 200  # the owner's SAD was not spent

    assert_csc_error(call(public_server, "v2/credentials/list", None, {}), 401, "invalid_token", "API token")
    assert_csc_error(call(public_server, "v2/credentials/list", "gsk_unknown", {}), 401, "invalid_token", "")
    admin = administrator_token(sqlite_deployment, "ca_admin")
    assert_csc_error(call(public_server, "v2/credentials/list", admin, {}), 403, "access_denied", "")


def test_credential_info_in_both_shapes_and_the_public_info(
    officials: dict[str, Official], public_server: str
) -> None:
    official = officials["ec-p256"]
    body = {"credentialID": official.credential_id, "certificates": "chain", "certInfo": True}
    v1 = call(public_server, "v1/credentials/info", official.token, body).json()
    v2 = call(public_server, "v2/credentials/info", official.token, body).json()
    for answer in (v1, v2):
        assert answer["key"] == {
            "status": "enabled",
            "algo": ["1.2.840.10045.2.1", ECDSA_SHA256, "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"],
            "len": 256,
            "curve": "1.2.840.10045.3.1.7",
        }
        assert answer["cert"]["status"] == "valid" and len(answer["cert"]["certificates"]) == 3
        assert answer["cert"]["serialNumber"] == official.serial.upper().lstrip("0")
        assert answer["cert"]["validFrom"].endswith("Z") and len(answer["cert"]["validFrom"]) == 15
        assert (answer["authMode"], answer["SCAL"], answer["PIN"]["presence"]) == ("explicit", "2", "true")
        assert answer["OTP"]["presence"] == "false" and answer["multisign"] == 1000
    assert v2["auth"]["expression"] == "PIN" and "auth" not in v1
    single = call(
        public_server, "v2/credentials/info", official.token, {"credentialID": official.credential_id}
    )
    assert len(single.json()["cert"]["certificates"]) == 1 and "issuerDN" not in single.text
    for version in ("v1", "v2"):
        info = httpx.post(f"{public_server}/csc/{version}/info", json={}, timeout=30).json()
        assert (info["region"], info["lang"]) == ("VN", "vi")
        assert "signatures/signHash" in info["methods"] and info["authType"] == ["external"]
    bad = call(public_server, "v2/credentials/info", official.token, {"certificates": "all"})
    assert_csc_error(bad, 400, "invalid_request", "Missing (or invalid type) parameter credentialID")


# -- the holder's PIN and second factor ------------------------------------------------------------------


def test_five_wrong_pins_lock_the_credential_and_the_audit_log_names_the_account(
    sqlite_deployment: Deployment, public_server: str, tmp_path: Path
) -> None:
    official = new_official(sqlite_deployment, tmp_path)
    digest = hashlib.sha256(b"doan sai").digest()
    body = {"credentialID": official.credential_id, "numSignatures": 1, "hashes": [b64(digest)]}
    assert_csc_error(
        call(public_server, "v2/credentials/authorize", official.token, body), 400, "invalid_request", "PIN"
    )
    for attempt in range(1, MAX_ATTEMPTS):
        refused = call(
            public_server, "v2/credentials/authorize", official.token, {**body, "PIN": "sai-pin-1"}
        )
        left = f"{MAX_ATTEMPTS - attempt} attempts left"
        assert_csc_error(refused, 400, "invalid_authentication_data", left)
    v1_body = {
        "credentialID": official.credential_id,
        "numSignatures": 1,
        "hash": [b64(digest)],
        "PIN": "sai-pin-1",
    }
    refused = call(public_server, "v1/credentials/authorize", official.token, v1_body)
    assert_csc_error(refused, 400, "invalid_request", "PIN locked")
    refused = call(public_server, "v2/credentials/authorize", official.token, {**body, "PIN": HOLDER_PIN})
    assert_csc_error(refused, 400, "invalid_request", "Credential locked")
    info = call(
        public_server, "v2/credentials/info", official.token, {"credentialID": official.credential_id}
    )
    assert info.json()["key"]["status"] == "disabled"
    refusals = entries_of(sqlite_deployment, "credential.authorize", official)
    assert refusals and all(entry.result == "refused" for entry in refusals)
    assert sum("wrong pin" in entry.details for entry in refusals) == MAX_ATTEMPTS
    assert all(entry.object == f"credential:{official.credential_id}" for entry in refusals)


def test_a_holder_with_a_totp_factor_authorises_only_with_a_fresh_code(
    sqlite_deployment: Deployment, public_server: str, tmp_path: Path
) -> None:
    official = new_official(sqlite_deployment, tmp_path)
    enrolment = enrol(
        sqlite_deployment.authority,
        admin_id=None,
        account_id=official.account_id,
        username=f"official-{official.account_id}",
        password="mat-khau-dai-du-12",
        actor="test",
    )
    info = call(
        public_server, "v1/credentials/info", official.token, {"credentialID": official.credential_id}
    )
    assert info.json()["OTP"]["presence"] == "true"
    digest = hashlib.sha256(b"hai yeu to").digest()
    assert_csc_error(
        call(
            public_server,
            "v2/credentials/authorize",
            official.token,
            {
                "credentialID": official.credential_id,
                "numSignatures": 1,
                "hashes": [b64(digest)],
                "PIN": HOLDER_PIN,
            },
        ),
        400,
        "invalid_request",
        "parameter OTP",
    )
    code = pyotp.TOTP(enrolment.totp_secret).now()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    body = {
        "credentialID": official.credential_id,
        "numSignatures": 1,
        "hash": [b64(digest)],
        "PIN": HOLDER_PIN,
    }
    assert_csc_error(
        call(public_server, "v1/credentials/authorize", official.token, {**body, "OTP": wrong}),
        400,
        "invalid_otp",
        "OTP",
    )
    auth_data = [{"id": "PIN", "value": HOLDER_PIN}, {"id": "OTP", "value": code}]
    sad = authorize(public_server, official, [digest], pin="", authData=auth_data)
    assert sign_hash(public_server, official, sad, [digest]).status_code == 200
    reused = call(public_server, "v1/credentials/authorize", official.token, {**body, "OTP": code})
    assert_csc_error(reused, 400, "invalid_otp", "already used")
    assert entries_of(sqlite_deployment, "account.second-factor", official)[-1].result == "refused"


# -- both databases --------------------------------------------------------------------------------------


def test_authorize_and_sign_hash_on_each_database(deployment: Deployment, tmp_path: Path) -> None:
    official = new_official(deployment, tmp_path, "rsa2048")
    hashes = [hashlib.sha256(f"{deployment.backend} {i}".encode()).digest() for i in range(2)]
    with running_server(deployment) as base:
        sad = authorize(base, official, hashes)
        answer = sign_hash(base, official, sad, hashes, signAlgo=SHA256_RSA)
        assert answer.status_code == 200, answer.text
        for digest, signature in zip(hashes, answer.json()["signatures"], strict=True):
            verified = openssl_verifies(
                official.certificate_pem, digest, base64.b64decode(signature), ["digest:sha256"], tmp_path
            )
            assert verified
        assert_csc_error(
            sign_hash(base, official, sad, hashes, signAlgo=SHA256_RSA), 400, "invalid_request", "SAD"
        )
    assert len(entries_of(deployment, "credential.sign", official)) == 1
