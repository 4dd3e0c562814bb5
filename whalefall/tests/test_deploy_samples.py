"""The systemd unit and Kubernetes manifest shown in the README are valid, not just plausible."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _block(language: str) -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
    assert blocks, f"no ```{language} block in the README"
    return blocks[0]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    unit = _block("ini")
    assert "ExecStart=/opt/whalefall/.venv/bin/python manage.py runscheduler" in unit
    # The same unit with this machine's paths (verify checks that the executable exists).
    env = tmp_path / "env"
    env.write_text("DEBUG=false\n")
    unit = (
        unit.replace("/opt/whalefall/.venv/bin/python", sys.executable)
        .replace("/opt/whalefall/.env", str(env))
        .replace("/opt/whalefall", str(ROOT))
        .replace("User=whalefall", "User=root")
    )
    path = tmp_path / "whalefall-scheduler.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if path.name in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_the_kubernetes_manifest_parses_with_probes() -> None:
    docs = [d for d in yaml.safe_load_all(_block("yaml")) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds == {("Deployment", "whalefall-scheduler"), ("Deployment", "whalefall-web")}
    for doc in docs:
        spec = doc["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert doc["spec"]["selector"]["matchLabels"] == doc["spec"]["template"]["metadata"]["labels"]
        assert "livenessProbe" in container
    scheduler = next(d for d in docs if d["metadata"]["name"] == "whalefall-scheduler")
    grace = scheduler["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > 30, "Kubernetes must wait longer than the scheduler's stop grace period"
