"""The one report pipeline: report folders, W&B runs, console tables, provenance (knows no analysis)."""
