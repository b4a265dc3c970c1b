"""The README's first command works from a fresh clone in a new folder (the second one is CI itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.conftest import PROJECT, free_port


@pytest.mark.slow
def test_run_sh_from_a_fresh_clone_initialises_and_serves(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT), str(clone)], check=True)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GOVSIGN_", "SOFTHSM2_", "VIRTUAL_ENV", "PYTHON"))
    }
    env |= {"GOVSIGN_PORT": str(port), "GOVSIGN_WORKERS": "1", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["./scripts/run.sh"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 540
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        else:
            raise AssertionError(
                "run.sh did not serve within 9 minutes:\n" + (tmp_path / "run.log").read_text()
            )
        response = httpx.get(f"http://127.0.0.1:{port}/pki/ca/govsign-ca.crt")
        assert response.status_code == 200
        assert x509.load_der_x509_certificate(response.content).subject.rfc4514_string().endswith("C=VN")
        assert (clone / "var" / "govsign.db").exists() and (clone / "var" / "tokens").is_dir()
        assert oct((clone / "var" / "service-token.pin").stat().st_mode & 0o777) == "0o600"
        listing = subprocess.run(
            [str(clone / ".venv" / "bin" / "govsign"), "ca", "list"],
            cwd=clone,
            env=env | {"GOVSIGN_HOME": str(clone / "var")},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Nguyễn Văn Ánh" in listing.stdout and "Hệ thống một cửa điện tử 2.1" in listing.stdout
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
