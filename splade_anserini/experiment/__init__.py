"""Experiments: config files, the pipeline that runs them through the stages, and results tables and plots."""
