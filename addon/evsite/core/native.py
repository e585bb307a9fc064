"""The allocator's compiled inner loops, when they were built (``_native.c``).

``pip install`` compiles ``evsite/core/_native.c`` when a C compiler is there;
each compiled function is a port of a pure-Python reference in this package,
bit-identical on every input (``tests/core/test_native.py``), so the allocator
gives the same result either way, only faster. Without the compiled module, or
with ``EVSITE_PURE_PYTHON=1`` in the environment, the Python versions run.

Public API:
    NATIVE: the compiled module, or None when the Python loops run
    use_native(enabled) -> context manager (tests compare the two paths)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_compiled: ModuleType | None
try:
    from evsite.core import _native as _compiled
except ImportError:  # no compiler at install time: the pure-Python loops run
    _compiled = None

NATIVE: ModuleType | None = None if os.environ.get("EVSITE_PURE_PYTHON") else _compiled


def available() -> bool:
    """Whether the compiled module was built (whatever ``NATIVE`` is now)."""
    return _compiled is not None


@contextmanager
def use_native(enabled: bool) -> Iterator[None]:
    """Run the block with the compiled loops on or off (for tests and benchmarks).

    Raises:
        RuntimeError: ``enabled`` but the compiled module was not built.
    """
    global NATIVE  # noqa: PLW0603 - the one switch the loops read
    if enabled and _compiled is None:
        raise RuntimeError("evsite.core._native was not built (no C compiler?)")
    before, NATIVE = NATIVE, (_compiled if enabled else None)
    try:
        yield
    finally:
        NATIVE = before
