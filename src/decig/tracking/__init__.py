"""Lineage records and (later) MLflow tracking/registry; nothing here imports KFP."""
