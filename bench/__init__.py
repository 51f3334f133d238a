"""Benchmarks, run by hand: `python -m bench [--quick]` (see bench/__main__.py). They print ratios to a
baseline measured in the same run, never absolute pass/fail, because the machines they run on are noisy."""
