"""``python -m bench``: run every benchmark module and write BENCHMARKS.md (see bench/report.py)."""

import sys

from bench.report import main

sys.exit(main())
