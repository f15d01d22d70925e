"""The CLI's argument checks: what argparse refuses before anything is asked of a stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempograph.cli import build_parser, project_settings


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "demo", "--input", "{}", "--thread", ""],
        ["run", "demo", "--input", "{}", "--thread", "  "],
        ["resume", "", "--value", "true"],
        ["state", " "],
    ],
)
def test_a_blank_thread_name_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "a thread name cannot be empty" in capsys.readouterr().err


def test_a_thread_name_is_kept_as_given() -> None:
    args = build_parser().parse_args(["run", "demo", "--input", "{}", "--thread", "s-1"])
    assert args.thread == "s-1"
    assert build_parser().parse_args(["run", "demo", "--input", "{}"]).thread is None


@pytest.mark.parametrize("command", ["up", "api", "worker", "cluster"])
def test_a_projects_data_lives_beside_its_config_wherever_the_command_runs(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("TEMPOGRAPH_DATA_DIR", raising=False)
    argv = [command, "up", "--config", "../project/langgraph.json"]
    if command != "cluster":
        argv.remove("up")
    args = build_parser().parse_args(argv)
    assert project_settings(args).data_dir == project.resolve() / ".tempograph"
    monkeypatch.setenv("TEMPOGRAPH_DATA_DIR", str(tmp_path / "data"))
    assert project_settings(args).data_dir == tmp_path / "data"


def test_without_a_config_the_data_is_in_the_current_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEMPOGRAPH_DATA_DIR", raising=False)
    args = build_parser().parse_args(["up"])
    assert project_settings(args).data_dir == Path(".tempograph")
