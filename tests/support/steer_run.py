"""Run a `steer` analysis command in this process, with options given as Python values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from steer.cli.driver import main, run


def argv(words: tuple[str, ...], options: dict[str, Any]) -> list[str]:
    """``steer WORDS --key value …``: strings as they are, every other value as JSON."""
    args = list(words)
    for key, value in options.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def steer_run(*words: str, **options: Any) -> Any:
    """``steer WORDS --key value …``; a SteerError propagates."""
    return run(argv(words, options))


def steer_fails(capsys: pytest.CaptureFixture, *words: str, **options: Any) -> str:
    """``steer WORDS --key value …`` must stop with exit code 2 and one `error:` line, which is returned."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(argv(words, options))
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err[-2000:]
    return lines[0]
