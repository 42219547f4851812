"""Measuring what a walk or model does: steerability metrics and reports."""
