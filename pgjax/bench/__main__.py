"""``python -m pgjax.bench``: the score-function benchmark (:func:`pgjax.bench.score.main`)."""

import sys

from pgjax.bench.score import main

sys.exit(main())
