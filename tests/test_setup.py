"""The set-up as a user meets it: the pinned versions agree with pyproject.toml's ranges, `make`
refuses a Python without a pinned TensorFlow wheel, and `make lab` starts JupyterLab (as root
too: CI runs as root) with the project's settings."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins():
    """constraints.txt as {canonical name: version}."""
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pairs}


def test_every_dependency_is_pinned_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    pinned = pins()
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is a dependency but not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {requirement}"
        )
    # Both TensorFlow packages are pinned to one version, whichever a platform installs.
    assert pinned["tensorflow"] == pinned["tensorflow-cpu"]


def test_the_pinned_python_versions_agree_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    makefile = (ROOT / "Makefile").read_text()
    versions = next(
        line.split(":=")[1].split()
        for line in makefile.splitlines()
        if line.startswith("PYTHON_VERSIONS :=")
    )
    assert project["requires-python"] == f">={versions[0]}"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions


def test_make_refuses_a_python_without_a_pinned_tensorflow_wheel(tmp_path):
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-s", "setup", f"VENV={venv}", "PYTHON_VERSIONS=2.7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "has no wheel of the pinned TensorFlow" in result.stderr
    assert "No matching distribution" not in result.stderr + result.stdout
    assert not venv.exists()  # refused before anything was made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_starts_jupyterlab_without_the_news_prompt():
    port, token = free_port(), "cnn-tutorial-test"
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--IdentityProvider.token={token}"
    )
    url = (
        f"http://127.0.0.1:{port}/lab/api/settings/"
        f"@jupyterlab/apputils-extension:notification?token={token}"
    )
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    settings = json.load(response)
                break
            except OSError:
                if lab.poll() is not None or time.monotonic() > deadline:
                    os.killpg(lab.pid, signal.SIGKILL)
                    pytest.fail(f"make lab did not start a server:\n{lab.stdout.read()}")
                time.sleep(0.5)
        # The project's default (jupyterlab-overrides.json), unless a user setting says otherwise.
        assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
