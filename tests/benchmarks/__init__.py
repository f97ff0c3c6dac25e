"""Tests of benchmarks/: each suite runs at a tiny size and reports what it measures."""
