"""Evaluation: streaming metrics, thresholds, plots and reports."""
