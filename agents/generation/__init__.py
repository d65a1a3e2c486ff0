"""Generation stage: turns Prompt events into Generation records."""
