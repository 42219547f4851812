"""The `steer` command line (entry points: nothing in the library imports it).

``driver``: the `steer` command (``main``); ``lightning``: LightningCLI with steer's
defaults for fit/validate/test/predict, and the one-line user errors of every command.
"""

from steer.cli.driver import main
from steer.cli.lightning import ConciseParser, SteerCLI, user_errors

__all__ = ["ConciseParser", "SteerCLI", "main", "user_errors"]
