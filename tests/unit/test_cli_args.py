"""The CLI's argument checks: what argparse refuses before anything is asked of a stack."""

from __future__ import annotations

import pytest

from tempograph.cli import build_parser


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
