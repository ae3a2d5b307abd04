"""The exception types users see.

Every user-facing error is a :class:`HarnessError`. Two subclasses mark the ways a
floating-point format itself defeats the construction, so that failure criteria
(:mod:`harness.analysis.failure`) can tell them apart without reading messages.
"""

__all__ = ["HarnessError", "CollisionError", "FormatOverflowError", "Terminated"]


class HarnessError(ValueError):
    """A user-facing error: bad input, an unknown strategy name, an impossible request.

    The message always names the problem (which row, which value, which option) so
    that the CLI can print it as-is and exit with status 2, without a traceback.
    """


class CollisionError(HarnessError):
    """Distinct points became indistinguishable in the working format: their
    projections round to the same value, or the points themselves round to the
    same point with different labels."""


class FormatOverflowError(HarnessError):
    """A value (an input, a projection, a knot) is beyond the format's finite range."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during a sweep: handled as an interrupt (finished points kept, the run
    marked ``interrupted``), reported as a termination (exit 143)."""
