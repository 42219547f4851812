"""Building parts from config sections (class_path + init_args) and saying in one line what was wrong with one."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from typing import Any

from jsonargparse import ArgumentParser

from steer.errors import SteerError


def build(spec: dict, base: type, what: str, example: str = "") -> Any:
    """An instance of a ``base`` subclass from its class_path + init_args (as in a config section)."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(base, "part", fail_untyped=False)
    try:
        return parser.instantiate(parser.parse_object({"part": spec})).part
    except SteerError:
        raise
    except Exception as e:  # jsonargparse reports config problems as several exception types
        reason = e
        while reason is not None and not isinstance(reason, SteerError):  # steer's own message, if it raised one
            reason = reason.__cause__ or reason.__context__
        if reason is not None:
            raise reason from None
        hint = f" Give e.g. {example}." if example else ""
        raise SteerError(f"cannot build the {what} {spec.get('class_path')!r}: {explain_config_error(str(e))}{hint}") from None


def _public_classes(module_path: str) -> list[str]:
    """Names of the public classes defined in a module (for 'valid choices' hints)."""
    try:
        module = importlib.import_module(module_path)
    except ImportError:
        return []
    return sorted(name for name, obj in vars(module).items()
                  if inspect.isclass(obj) and not name.startswith("_") and obj.__module__.startswith(module_path))


def kind_name(kind: str) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string"}.get(kind, f"a {kind}")


def config_arg() -> str | None:
    """The value of the last --config/-c on the command line, if any."""
    args = sys.argv[1:]
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--config", "-c")]
    values += [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    return values[-1] if values else None


def explain_config_error(message: str) -> str:
    """jsonargparse's nested message → one short statement of what was wrong and what is valid."""
    text = str(message)
    missing = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", text)
    if missing:
        module, name = missing.groups()
        return f"unknown class '{name}' in {module}; valid ones: {', '.join(_public_classes(module)) or 'none'}."
    bad_path = re.search(r"(?:Import path|dot import path string:?) '?([\w.]+)'?", text)
    if bad_path and "." not in bad_path.group(1):
        return (f"unknown name '{bad_path.group(1)}': give a full class path, e.g. steer.edits.Zoom "
                f"(edits: {', '.join(_public_classes('steer.edits'))}; walks: {', '.join(_public_classes('steer.walks'))}).")
    required = re.search(r"the following arguments are required: ([\w., ]+)", text)
    if required:
        names = ", ".join(f"--{name.strip().split('.')[-1]}" for name in required.group(1).split(","))
        return f"{names} is required; see --help for what to give."
    choice = re.search(r"Parser key \"(\w+)\":.*?Expected a typing\.Literal\[(.*?)\]\.\s*Got value: ([^\n]*)", text, re.S)
    if choice:
        key, allowed, value = choice.groups()
        return f"--{key} must be one of {allowed.replace(chr(39), '')}, got {value.strip()!r}."
    option = re.search(r"Problem with given class_path '([\w.]+)':\s*Option '(\w+)' is not accepted", text)
    if option:
        cls, key = option.groups()
        return f"{cls} has no option '{key}'; see its accepted options with --help (or its docstring)."
    wrong_type = re.findall(r"Problem with given class_path '([\w.]+)':\s*Parser key \"(\w+)\":\s*"
                            r"Expected a <class '(\w+)'>\.\s*Got value: (.*)", text)
    if wrong_type:
        cls, key, kind, value = wrong_type[-1]
        return f"{cls}: option '{key}' must be {kind_name(kind)}, got {value.strip()!r}."
    plain_type = re.search(r"^Parser key \"(\w+)\":\s*Expected a <class '(\w+)'>\.\s*Got value: (.*)", text.strip())
    if plain_type:
        key, kind, value = plain_type.groups()
        return f"option --{key} must be {kind_name(kind)}, got {value.strip()!r}."
    yaml_error = re.search(r"Problems parsing config:\s*(.*)", text, re.S)
    if yaml_error:
        where = re.findall(r"line (\d+), column (\d+)", yaml_error.group(1))
        problem = re.sub(r"\s*in \"<unicode string>\", line \d+, column \d+", "", yaml_error.group(1)).strip()
        at = f" (line {where[-1][0]}, column {where[-1][1]})" if where else ""
        return f"--config {config_arg() or ''} is not valid YAML: {' '.join(problem.split())}{at}.".replace("  ", " ")
    if text.strip() == "Unexpected config:":
        return f"--config {config_arg() or ''} is empty or not a YAML mapping of sections (model:, data:, trainer:).".replace("  ", " ")
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith(("Given value", "- Expected a <class 'NoneType'>"))]
    return " ".join(dict.fromkeys(lines))
