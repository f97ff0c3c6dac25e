"""Evaluating models: metrics, plots and the report."""
