"""The one exception type users see."""

__all__ = ["HarnessError"]


class HarnessError(ValueError):
    """A user-facing error: bad input, an unknown strategy name, an impossible request.

    The message always names the problem (which row, which value, which option) so
    that the CLI can print it as-is and exit with status 2, without a traceback.
    """
