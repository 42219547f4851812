"""The `steer` command: LightningCLI's fit/validate/test/predict, and the registered analysis commands.

    steer fit --config configs/digiface/zoom_linear.yaml
    steer discover sefa --out reports/sefa
    steer evaluate steerability --checkpoint runs/demo/last.ckpt --out reports/demo

Every analysis option is typed (``--help`` lists it; ``--edit ShiftX --edit.max_shift 8``
and a JSON spec both work). Options naming a generator are handed to the
command unbuilt (class_path + init_args): steer builds generators itself,
frozen, and may put one in place of a checkpoint's recorded generator.
"""

from __future__ import annotations

import inspect
import sys
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from steer.cli.checks import memory
from steer.cli.lightning import ConciseParser, SteerCLI, user_errors
from steer.commands.common import resolve_device
from steer.commands.registry import GROUPS
from steer.config import trust_named_in, trusting
from steer.explore import explore
from steer.formats.record import read_record
from steer.generators.base import Generator
from steer.reports.folder import claim
from steer.reports.report import check_report_folder, publish

LIGHTNING = {"fit": "Train a model (walk, GAN, VAE, g_θ) from a config.",
             "validate": "Run a trained model's validation loop.",
             "test": "Run the steerability evaluation of a trained walk as a Lightning test loop.",
             "predict": "Write walked images of a trained walk."}

#: Commands without a group (`steer NAME …`): typed functions like the registered ones, and --config FILE.
TOP_LEVEL = {"explore": explore}

REPORT_OPTIONS = {
    "out": (str, None, "the report folder; refused if it already holds files, unless --overwrite."),
    "overwrite": (bool, False, "replace the report in OUT."),
    "wandb": (bool, True, "log the report to W&B (offline without credentials)."),
    "device": (str, "cpu", "torch device to compute on (cpu, cuda, cuda:1, ...)."),
}


def command_parser(fn: Any, reports: bool) -> ArgumentParser:
    """The parser of one command: --config FILE, its typed parameters (less ``device``), plus the report options."""
    parser = ConciseParser(description=(inspect.getdoc(fn) or "").split("\n\nArgs:")[0],
                           formatter_class=RawDescriptionHelpFormatter)
    parser.add_argument("--config", action=ActionConfigFile, help="a JSON or YAML file of these options "
                        "(e.g. a paper preset, docs/PAPER_PRESETS.md).")
    parser.add_function_arguments(fn, skip={"device"}, fail_untyped=True, as_group=False)
    if reports:
        takes_device = "device" in inspect.signature(fn).parameters
        for name, (kind, default, text) in REPORT_OPTIONS.items():
            if name != "device" or takes_device:
                parser.add_argument(f"--{name}", type=kind, default=default, required=name == "out", help=text)
    return parser


def build_parser() -> ArgumentParser:
    """The parser of every registered command, two levels deep (``steer GROUP COMMAND``)."""
    parser = ConciseParser(prog="steer", description=overview())
    groups = parser.add_subcommands(required=True, dest="group")
    for name, fn in TOP_LEVEL.items():
        groups.add_subcommand(name, command_parser(fn, reports=False), help=(inspect.getdoc(fn) or "").splitlines()[0])
    for name, group in GROUPS.items():
        groups.add_subcommand(name, ConciseParser(description=group.help), help=group.help)
    for name, group in GROUPS.items():
        commands = groups.choices[name].add_subcommands(required=True, dest="command")
        for command, fn in group.commands.items():
            commands.add_subcommand(command, command_parser(fn, group.reports),
                                    help=(inspect.getdoc(fn) or "").splitlines()[0])
    return parser


def overview() -> str:
    lines = ["Steer the latent space of generative models.", "", "commands:"]
    lines += [f"  steer {name:<30} {text}" for name, text in LIGHTNING.items()]
    lines += [f"  steer {name:<30} {(inspect.getdoc(fn) or '').splitlines()[0]}" for name, fn in TOP_LEVEL.items()]
    for name, group in GROUPS.items():
        for command, fn in group.commands.items():
            lines.append(f"  steer {name + ' ' + command:<30} {(inspect.getdoc(fn) or '').splitlines()[0]}")
    lines += ["", "steer COMMAND --help lists a command's options."]
    return "\n".join(lines)


def generator_options(fn: Any) -> list[str]:
    """The parameters of ``fn`` that name a generator (handed over as specs, not built)."""
    hints = inspect.get_annotations(fn, eval_str=True)
    return [name for name, hint in hints.items() if Generator in getattr(hint, "__args__", (hint,))]


def run(argv: list[str]) -> Any:
    """Parse ``argv`` (without the program name), run the command, publish its report; returns the result.

    The modules the user names in the options are trusted while it runs: a file may name them too.
    """
    with trusting(), memory(lambda: "lower --batch_size or --n (or the generator's size)"):
        return _run(argv)


def _run(argv: list[str]) -> Any:
    config = build_parser().parse_args(argv)
    group = config.group
    if group in TOP_LEVEL:
        command, fn, reports, options = None, TOP_LEVEL[group], False, config[group].clone()
    else:
        command = config[group].command
        fn, reports, options = GROUPS[group].commands[command], GROUPS[group].reports, config[group][command].clone()
    del options["config"]
    parser = command_parser(fn, reports)
    dumped = parser.dump(options, skip_check=True, skip_none=False)
    resolved = {"command": " ".join(filter(None, (group, command))), **yaml.safe_load(dumped)}
    trust_named_in(resolved)
    specs = {name: options[name].as_dict() if isinstance(options[name], Namespace) else options[name]
             for name in generator_options(fn)}
    built = vars(parser.instantiate(options))
    kwargs = {**{k: v for k, v in built.items() if not reports or k not in REPORT_OPTIONS}, **specs}
    if not reports:
        written = fn(**kwargs)
        if written is not None:
            print(f"wrote: {written}")
        return written
    out = Path(built["out"])
    with claim(out):  # one writer per report folder, from the check to the last file
        check_report_folder(out, built["overwrite"])
        if "device" in inspect.signature(fn).parameters:
            kwargs["device"] = resolve_device(built["device"])
        report = fn(**kwargs)
        if kwargs.get("checkpoint") and report.checkpoint is None:  # the run measured: links the W&B runs
            report.checkpoint, report.trained = kwargs["checkpoint"], read_record(Path(kwargs["checkpoint"]))[1]
        return publish(report, out, resolved, built["wandb"])


def main(argv: list[str] | None = None) -> None:
    """The console script `steer`."""
    argv = sys.argv[1:] if argv is None else argv
    with user_errors():
        if argv and argv[0] in LIGHTNING:
            SteerCLI(args=argv)
        elif not argv or argv[0] in ("-h", "--help"):
            print(overview())
        else:
            run(argv)
