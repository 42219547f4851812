"""Building parts from config sections (class_path + init_args) and saying in one line what was wrong with one.

Also the trust rule: a config section read from a file (a checkpoint's record, a direction file's generator
record) may name only classes of steer and of the libraries it trusts by default (:data:`TRUSTED_BY_DEFAULT`),
or of modules the user names too: in their own command line or config (the `steer` command trusts those),
in the environment variable ``STEER_TRUST`` (comma-separated modules), or with :func:`trusting` (what
``steer.load(path, trust=[...])`` uses). The check runs before anything is imported, so an untrusted module's
code never runs, and nothing a file names is imported from the current folder unless the user trusts it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from steer.errors import SteerError

#: Modules whose classes a file may name without the user naming them: steer's own, torch's optimisers and LR
#: schedulers, and Lightning's callbacks, loggers, plugins, strategies, profilers and accelerators.
TRUSTED_BY_DEFAULT = ("steer", "torch.optim", "pytorch_lightning.cli.ReduceLROnPlateau", *(
    f"{package}.{part}" for package in ("pytorch_lightning", "lightning.pytorch")
    for part in ("callbacks", "loggers", "plugins", "strategies", "profilers", "accelerators")))
#: The environment variable that lists further trusted modules, comma-separated.
TRUST_VARIABLE = "STEER_TRUST"
_user_trusted: ContextVar[frozenset[str]] = ContextVar("steer_user_trusted", default=frozenset())
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def import_paths(spec: Any) -> list[str]:
    """The import paths a config section names: every dotted ``class_path``, and every other dotted string whose
    first part is an importable module (jsonargparse imports those for class, type and callable options)."""
    if isinstance(spec, dict):
        return [path for key, value in spec.items()
                for path in ([value] if key == "class_path" and isinstance(value, str) and _DOTTED.fullmatch(value)
                             else import_paths(value))]
    if isinstance(spec, (list, tuple)):
        return [path for value in spec for path in import_paths(value)]
    if (isinstance(spec, str) and _DOTTED.fullmatch(spec) and _importable(spec.split(".")[0])
            and not Path(spec).exists()):  # a file named like a module (e.g. torch.pt) is a file
        return [spec]
    return []


def module_of(path: str) -> str:
    """The module part of an import path (``pkg.models.G`` → ``pkg.models``)."""
    return path.rpartition(".")[0] or path


@contextlib.contextmanager
def trusting(modules: Iterable[str] = ()) -> Iterator[None]:
    """Within the block, a file may also name classes of ``modules`` (and whatever :func:`trust` adds)."""
    token = _user_trusted.set(_user_trusted.get() | frozenset(modules))
    try:
        yield
    finally:
        _user_trusted.reset(token)


def trust(modules: Iterable[str]) -> None:
    """Trust ``modules`` too, until the enclosing :func:`trusting` block ends (the user named them)."""
    _user_trusted.set(_user_trusted.get() | frozenset(modules))


def trust_named_in(config: Any) -> None:
    """Trust the modules of every class the user's own ``config`` names (their command line or config file)."""
    trust(module_of(path) for path in import_paths(config))


def _covered(path: str, entries: Iterable[str]) -> bool:
    return any(path == entry or path.startswith(f"{entry}.") for entry in entries if entry)


def _user_entries() -> set[str]:
    return set(_user_trusted.get()) | {e.strip() for e in os.environ.get(TRUST_VARIABLE, "").split(",")}


def _spec_of(top: str) -> Any:
    """Where the top-level module ``top`` would be imported from, found without running it (None: nowhere)."""
    try:
        return importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None


def _importable(top: str) -> bool:
    return top in sys.modules or _spec_of(top) is not None


def _in_current_folder(top: str) -> bool:
    """True when importing ``top`` now would load it from the current folder (a file there shadows it)."""
    spec = None if top in sys.modules else _spec_of(top)
    if spec is None:
        return False
    folders = spec.submodule_search_locations or ([spec.origin] if spec.origin else [])
    return any(Path(folder).parent.resolve() == Path.cwd().resolve() for folder in folders)


def check_trusted(spec: Any, recorded_in: str) -> None:
    """Refuse, before anything is imported, a config section read from the file ``recorded_in`` that names a
    class the user did not trust (see the module docstring)."""
    user = _user_entries()
    for path in import_paths(spec):
        if _covered(path, user):
            continue
        module, top = module_of(path), path.split(".")[0]
        if not _covered(path, TRUSTED_BY_DEFAULT):
            why = "which is neither steer's nor of a library steer trusts; steer does not import a module because a " \
                  "file names it"
        elif _in_current_folder(top):
            why = f"whose package {top} would be imported from the current folder, where steer never looks for a " \
                  "file's names (run from another folder)"
        else:
            continue
        raise SteerError(f"{recorded_in} names {path}, {why}. If you trust {module}, name it: set "
                         f"{TRUST_VARIABLE}={module} (comma-separated for more), or pass trust=[{module!r}] to "
                         "steer.load, and run again.")


def build(spec: dict, base: type, what: str, example: str = "", recorded_in: str | None = None) -> Any:
    """An instance of a ``base`` subclass from its class_path + init_args (as in a config section).

    ``recorded_in``: the file the section was read from; its class paths must then be trusted
    (:func:`check_trusted`), which is checked before anything is imported.
    """
    if recorded_in is not None:
        check_trusted(spec, recorded_in)
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
    if re.search(r"class_path 'steer\.generators\.CustomGenerator':\s*Option '(class_path|init_args)\b", text):
        return ("CustomGenerator's options class_path and init_args are now called model_class and model_args "
                "(the old names clash with the config parser's own); rename them in the generator's init_args.")
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
    # the innermost key (a class's option, not the section naming the class) and its value alone
    choice = re.search(r"Parser key \"(\w+)\":(?:(?!Parser key).)*?Expected a typing\.Literal\[(.*?)\]\.\s*"
                       r"Got value: (.*?)(?:\. Got value:|\n|$)", text, re.S)
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
