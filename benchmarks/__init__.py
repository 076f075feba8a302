"""Speed benchmarks; run all with ``make bench`` (prints their figures)."""
