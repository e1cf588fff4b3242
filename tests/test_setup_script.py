"""Set-up either works or says why: scripts/install-debian-deps.sh and the Makefile's stamp.

apt-get, dpkg and id are replaced by small scripts on PATH, so the test runs as a user would see
it on a machine where another apt holds the lock: the install waits (DPkg::Lock::Timeout), retries
once, exits 1, and `make setup` carries on without writing its stamp; once the packages install,
the next `make setup` writes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-debian-deps.sh"


def fake_tools(bin_dir: Path, state: Path) -> None:
    """id -u says 0; dpkg -s knows the packages once state/installed exists; apt-get logs its
    arguments and fails unless state/apt-works exists (then it "installs")."""
    bin_dir.mkdir()
    tools = {
        "id": "echo 0",
        "dpkg": f'[ -e "{state}/installed" ]',
        "apt-get": f'echo "$@" >> "{state}/apt.log"\n[ -e "{state}/apt-works" ] || exit 100\ntouch "{state}/installed"',
        "sleep": "exit 0",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def run(args: list[str], cwd: Path, bin_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RETRY_DELAY_S": "0"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_failed_install_waits_for_the_lock_retries_once_and_exits_1(tmp_path):
    fake_tools(tmp_path / "bin", tmp_path)
    result = run(["bash", str(SCRIPT)], tmp_path, tmp_path / "bin")
    assert result.returncode == 1
    assert "could not install" in result.stderr and "sudo apt-get install" in result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert len(calls) == 2  # update, then the retry's update (install is never reached)
    assert all("DPkg::Lock::Timeout=120" in call for call in calls)
    assert run(["bash", str(SCRIPT), "--check"], tmp_path, tmp_path / "bin").returncode == 1


def test_successful_install_exits_0(tmp_path):
    fake_tools(tmp_path / "bin", tmp_path)
    (tmp_path / "apt-works").touch()
    assert run(["bash", str(SCRIPT)], tmp_path, tmp_path / "bin").returncode == 0
    assert any(" install -y " in call for call in (tmp_path / "apt.log").read_text().splitlines())
    assert run(["bash", str(SCRIPT), "--check"], tmp_path, tmp_path / "bin").returncode == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_setup_continues_without_stamp_then_retries(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", project / "Makefile")
    shutil.copy(SCRIPT, project / "scripts" / SCRIPT.name)
    for name in ("pyproject.toml", "requirements.lock"):
        (project / name).touch()
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name in ("python", "pip"):  # the pip steps are not under test here
        (venv_bin / name).write_text("#!/bin/sh\nexit 0\n")
        (venv_bin / name).chmod(0o755)
    fake_tools(tmp_path / "bin", tmp_path)
    stamp = project / ".venv" / ".wavetag-installed"

    first = run(["make", "setup"], project, tmp_path / "bin")
    assert first.returncode == 0, first.stderr  # the run goes on without the optional packages
    assert not stamp.exists()  # ... but set-up is not marked complete
    (tmp_path / "apt-works").touch()
    second = run(["make", "setup"], project, tmp_path / "bin")
    assert second.returncode == 0, second.stderr
    assert stamp.exists()
    assert "Nothing to be done" in run(["make", "setup"], project, tmp_path / "bin").stdout
