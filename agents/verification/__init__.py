"""Verification stage: checks each Generation and emits a Verdict with a quality score."""
