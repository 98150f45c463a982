"""``python -m pgjax.explain [flags]``: the same as ``pgjax explain``."""

import sys

from pgjax.explain.command import run

sys.exit(run(sys.argv[1:]))
