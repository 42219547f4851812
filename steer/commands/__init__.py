"""The analyses of the `steer` command: one module per command, registered in ``steer.commands.registry``.

Each command is a typed function (its docstring is its --help) that returns a
``steer.reports.Report``; the driver (``steer.cli.driver``) checks the
report folder, resolves the device, runs it and publishes the report.
"""
