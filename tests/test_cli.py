"""Tests of `python -m genre_core` as a subprocess: help, config errors and an empty registry.

No test here trains or loads a model, so each command fails fast or only prints help.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genre_core.config import PROJECT_ROOT

COMMANDS = ("prepare", "train", "evaluate", "recommend")


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genre_core", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
    )


def command_args(command: str) -> list[str]:
    """The arguments each command requires besides --config."""
    return [command, "--user", "1"] if command == "recommend" else [command]


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def write_empty_registry_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty-registry.yaml"
    path.write_text(
        "name: movielens\n"
        "paths:\n"
        f"  registry_dir: {tmp_path / 'models'}\n"
        f"  data_dir: {tmp_path / 'data'}\n"
        f"  cache_dir: {tmp_path / 'cache'}\n",
        encoding="utf-8",
    )
    return path


def test_help_lists_commands():
    result = run_cli("--help")

    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout
    assert result.stderr == ""


def test_recommend_help_lists_options():
    result = run_cli("recommend", "--help")

    assert result.returncode == 0, result.stderr
    for option in ("--user", "--k", "--version", "--device", "--config"):
        assert option in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_config_file(tmp_path, command):
    missing = tmp_path / "no-such-config.yaml"

    result = run_cli(*command_args(command), "--config", str(missing))

    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"genre {command}: error: config file not found: {missing}")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_config_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  fusionn: attention\n", encoding="utf-8")

    result = run_cli("train", "--config", str(path))

    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "unknown config key 'model.fusionn'" in lines[0]
    assert "Traceback" not in result.stderr


def test_recommend_with_empty_registry(tmp_path):
    config = write_empty_registry_config(tmp_path)

    result = run_cli("recommend", "--user", "99999", "--config", str(config))

    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("genre recommend: error: no trained model in")
    assert str(tmp_path / "models" / "movielens") in lines[0]
    assert "train one with `genre train`" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_recommend_without_user_is_usage_error():
    result = run_cli("recommend")

    assert result.returncode == 2
    assert "usage: genre recommend" in result.stderr
    assert "--user" in result.stderr


def test_unknown_protocol_is_usage_error():
    result = run_cli("evaluate", "--protocol", "random")

    assert result.returncode == 2
    assert "invalid choice: 'random'" in result.stderr


@pytest.mark.parametrize("count", ["0", "-3", "ten"])
def test_recommend_rejects_invalid_k_before_loading(count):
    completed = run_cli("recommend", "--user", "42", "--k", count)
    assert completed.returncode == 2
    assert "argument --k: invalid" in completed.stderr
    assert "Traceback" not in completed.stderr
