"""On-demand benchmarks (``python -m bench <name>``): generated data, printed figures, never run by the tests."""
