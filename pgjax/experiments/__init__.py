"""pgjax experiments: one module per experiment, each with ``NAME``, a frozen ``Config`` and ``run``."""
