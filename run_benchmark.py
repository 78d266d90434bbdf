#!/usr/bin/env python
"""SSLBench command line: run / list / report. See `python run_benchmark.py --help`."""

import os
import sys

# Our top-level `datasets` package must win over any other `datasets` (Hugging Face's) on the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    from benchmark.cli import main

    sys.exit(main())
