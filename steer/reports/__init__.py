"""The one report pipeline: an analysis returns a Report, ``publish`` writes, logs and prints it."""
