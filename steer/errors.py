"""The one exception type steer raises for a user's mistake."""


class SteerError(Exception):
    """A problem the user can fix: the message says what was wrong and what to do.

    The command-line entry points print it as one line and exit with code 2,
    without a traceback.
    """
