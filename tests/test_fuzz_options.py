"""Property-based: wrong types, ranges and encodings given to the options of the `steer` command.

Every example must end the same way a user's typo does: exit code 2, exactly one
`error: …` line on stderr, no traceback, and no file written anywhere (each
example runs in an empty folder, which must stay empty).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steer.cli import main
from tests.support.scripts import ROOT

TINY = str(ROOT / "tests" / "configs" / "tiny_walk.yaml")

# (command words with the options that must be there, {option: kind}); kinds: int, count (int ≥ 1), float,
# unit (a float in (0, 1]), bool, and a tuple of choices.
COMMANDS = [
    (["fit", "--config", TINY, "--trainer.logger", "false"],
     {"trainer.max_steps": "int", "data.init_args.batch_size": "count", "overwrite": "bool",
      "model.init_args.optimizer.init_args.lr": "float", "trainer.val_check_interval": "positive"}),
    (["evaluate", "steerability", "--checkpoint", "missing.ckpt", "--out", "r"],
     {"n": "count", "batch_size": "count", "seed": "int", "fraction": "unit", "wandb": "bool", "overwrite": "bool"}),
    (["discover", "sefa", "--out", "r"], {"k": "count", "steps": "int", "max_step": "float", "latents": "count"}),
    (["discover", "trajectories", "--edit", "ShiftX", "--ts", "[1]", "--out", "r"],
     {"loss": ("lowpass", "mse"), "sigma": "float", "steps": "count", "lr": "float"}),
    (["discover", "manifold", "--mask", "1,1,4,4", "--out", "r"],
     {"distance": ("l2", "lpips"), "optimizer": ("lbfgs", "adam"), "k": "count"}),
    (["evaluate", "score", "--directions", "d.pt", "--out", "r"],
     {"factors": ("x", "y", "area", "orientation", "red", "green", "blue")}),
]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def wrong_value(kind: object) -> st.SearchStrategy[str]:
    """A value of the wrong type or outside the range for an option of ``kind``."""
    words = st.text(min_size=1, max_size=12).filter(lambda t: not is_number(t) and "\x00" not in t
                                                    and t.strip() not in ("true", "false", "null", "~"))
    if isinstance(kind, tuple):
        return words.filter(lambda t: t not in kind)
    if kind in ("int", "count"):
        fractions = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
        return st.one_of(words, fractions.map(repr), st.sampled_from(["1e999", "nan"]))
    if kind == "bool":
        return words.filter(lambda t: t.strip().lower() not in ("yes", "no", "on", "off", "1", "0", "y", "n"))
    return words  # float, unit, positive: anything that is no number


def out_of_range(kind: object) -> st.SearchStrategy[str]:
    """A number of the right type but outside the option's range."""
    if kind == "count":
        return st.integers(max_value=0).map(str)
    if kind == "unit":
        return st.floats(allow_nan=False).filter(lambda f: not 0 < f <= 1).map(repr)
    if kind == "positive":
        return st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(repr)
    return st.nothing()


def bad_example() -> st.SearchStrategy[tuple[list[str], str, str]]:
    return st.sampled_from(COMMANDS).flatmap(lambda command: st.sampled_from(sorted(command[1].items(), key=str)).flatmap(
        lambda item: st.one_of(wrong_value(item[1]), out_of_range(item[1])).map(
            lambda value: (command[0], item[0], value))))


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=bad_example())
def test_wrong_options_are_one_line_exit_2_and_write_nothing(example, tmp_path_factory, capsys):
    words, option, value = example
    folder = tmp_path_factory.mktemp("fuzz")
    here = os.getcwd()
    os.chdir(folder)
    try:
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            main([*words, f"--{option}", value])
        err = capsys.readouterr().err
    finally:
        os.chdir(here)
    shown = f"steer {' '.join(words)} --{option} {value!r}"
    assert stopped.value.code == 2, f"{shown}: exit {stopped.value.code}\n{err[-1500:]}"
    assert "Traceback" not in err, f"{shown}\n{err[-1500:]}"
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1, f"{shown}\n{err[-1500:]}"
    assert list(Path(folder).iterdir()) == [], f"{shown} wrote {list(Path(folder).iterdir())}"

