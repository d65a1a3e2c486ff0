"""Bias monitor stage: windowed distributions of accepted records against the spec's targets."""
