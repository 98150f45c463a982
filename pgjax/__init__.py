"""pgjax: Monte Carlo gradient estimators for reinforcement learning, measured against exact gradients."""

from pgjax.errors import ConfigError, PgjaxError

__version__ = "0.1.0"

__all__ = ["ConfigError", "PgjaxError", "__version__"]
