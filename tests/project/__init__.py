"""Rules over the whole repository: the layering, randomness sources, the README's code."""
