"""govsign works when installed from a wheel, from any folder: nothing it reads at run time (migrations,
the default ceremony file and SoftHSM2 template, web templates and static files) may live outside the
package, and the checkout's hsm_config/ (the operator's editable copy) must not drift from the defaults.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import govsign
from ca.errors import ConfigurationError
from govsign.cli.main import app
from govsign.config.settings import Settings
from tests.conftest import PROJECT, free_port

DEFAULTS = ("ceremony.toml", "softhsm2.conf")
PACKAGE = Path(govsign.__file__).parent


@pytest.mark.parametrize("name", DEFAULTS)
def test_operator_copy_is_the_packaged_default(name: str) -> None:
    """README points operators at hsm_config/; what an installed govsign uses is govsign/defaults/."""
    assert (PROJECT / "hsm_config" / name).read_bytes() == (PACKAGE / "defaults" / name).read_bytes()


def test_defaults_come_from_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVSIGN_CEREMONY_FILE", raising=False)
    monkeypatch.delenv("GOVSIGN_SOFTHSM_TEMPLATE", raising=False)
    settings = Settings()
    assert settings.ceremony_file == PACKAGE / "defaults" / "ceremony.toml"
    assert settings.softhsm_template == PACKAGE / "defaults" / "softhsm2.conf"
    assert settings.ceremony_file.is_file() and settings.softhsm_template.is_file()


def test_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOVSIGN_CEREMONY_FILE", str(tmp_path / "ceremony.toml"))
    monkeypatch.setenv("GOVSIGN_SOFTHSM_TEMPLATE", str(tmp_path / "softhsm2.conf"))
    settings = Settings()
    assert settings.ceremony_file == tmp_path / "ceremony.toml"
    assert settings.softhsm_template == tmp_path / "softhsm2.conf"


def test_init_ceremony_option_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The file given on the command line is the one read (it is missing here, so init stops at once,
    before it creates any token or database)."""
    monkeypatch.setenv("GOVSIGN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVSIGN_CEREMONY_FILE", str(PROJECT / "hsm_config" / "ceremony.toml"))
    given = tmp_path / "our-ceremony.toml"
    result = CliRunner().invoke(app, ["init", "--ceremony", str(given)])
    assert isinstance(result.exception, ConfigurationError), result.output
    assert str(given) in str(result.exception)
    assert not (tmp_path / "home").exists()


def _copy_of_the_sources(target: Path) -> Path:
    """The files git knows (tracked, and new ones not ignored), copied so that the build's build/ and
    *.egg-info land in the temporary folder, never in the working tree."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    )
    for name in listing.stdout.decode().split("\0"):
        source = PROJECT / name
        if name and source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _build_wheel(sources: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(sources)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("govsign-*.whl")
    return wheel


def _check_wheel_contents(wheel: Path, sources: Path) -> None:
    """Every file govsign reads at run time is in the wheel, including a migration added later."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = sources / "govsign"
    wanted = [
        *(package / "db" / "migrations").glob("*.py"),
        package / "db" / "migrations" / "script.py.mako",
        *(package / "db" / "migrations" / "versions").glob("*.py"),
        *(package / "defaults" / name for name in DEFAULTS),
        *(package / "web" / "templates").iterdir(),
        *(package / "web" / "static").iterdir(),
    ]
    missing = {path.relative_to(sources).as_posix() for path in wanted} - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert any(name.startswith("govsign/db/migrations/versions/0001_") for name in names)


def _virtualenv_with_the_wheel(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv where only govsign comes from the wheel: its dependencies are the project's
    .venv site-packages, added by a .pth file, so nothing is downloaded."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site_packages) / "govsign-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
        timeout=300,
    )
    return venv / "bin"


def _serve_until_healthy(govsign_bin: Path, folder: Path, env: dict[str, str], port: int) -> None:
    log_path = folder / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(govsign_bin), "serve", "--port", str(port), "--workers", "1"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{env['GOVSIGN_PUBLIC_URL']}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no healthy /healthz in 90 s:\n" + log_path.read_text()
            time.sleep(0.5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_wheel_installs_initialises_issues_and_serves_from_any_folder(tmp_path: Path) -> None:
    """`pip wheel` of the sources, installed (with --no-deps) into a fresh virtualenv whose dependencies
    come from the project's .venv through a .pth file, so the test downloads nothing and only govsign
    itself comes from the wheel; then init, issue and serve from an empty folder with a data folder and
    SoftHSM2 token folder of its own (the tokens are not the test session's)."""
    wheel = _build_wheel(_copy_of_the_sources(tmp_path / "sources"), tmp_path / "dist")
    _check_wheel_contents(wheel, tmp_path / "sources")
    bin_folder = _virtualenv_with_the_wheel(wheel, tmp_path / "venv")

    folder = tmp_path / "anywhere"
    folder.mkdir()
    shutil.copy(PROJECT / "scripts" / "demo" / "official-nguyen-van-anh.json", folder / "subject.json")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GOVSIGN_", "SOFTHSM2_", "VIRTUAL_ENV", "PYTHON"))
    }
    env |= {
        "GOVSIGN_HOME": str(folder / "var"),
        "SOFTHSM2_CONF": str(folder / "var" / "softhsm2.conf"),
        "GOVSIGN_PUBLIC_URL": f"http://ca.govsign.vn:{port}",
        "LANG": "C.UTF-8",
    }

    def run(*arguments: str) -> str:
        result = subprocess.run(
            arguments, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"{' '.join(arguments)}: {result.stdout}{result.stderr}"
        return result.stdout

    where = run(str(bin_folder / "python"), "-c", "import govsign; print(govsign.__file__)")
    assert where.startswith(str(tmp_path / "venv")), where
    govsign_bin = str(bin_folder / "govsign")
    assert "root CA govsign-root and issuing CA govsign-ca created" in run(govsign_bin, "init")
    issued = run(govsign_bin, "ca", "issue", "--profile", "individual", "--subject", "subject.json")
    lines = issued.strip().splitlines()
    assert lines[-2].startswith("set-up code for the holder"), issued
    assert len(lines[-1]) >= 16 and int(lines[-1], 16) > 0, issued
    assert (folder / "var" / "govsign.db").is_file() and (folder / "var" / "tokens").is_dir()
    _serve_until_healthy(bin_folder / "govsign", folder, env, port)
