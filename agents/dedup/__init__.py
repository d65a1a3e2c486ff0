"""Dedup + gate stage: drops exact and near duplicates, publishes accepted records."""
