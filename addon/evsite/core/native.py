"""The allocator's compiled inner loops, when they were built (``_native.c``).

``pip install`` compiles ``evsite/core/_native.c`` when a C compiler is there;
each compiled function is a port of a pure-Python reference in this package,
bit-identical on every input (``tests/core/test_native.py``), so the allocator
gives the same result either way, only faster. The Python versions run
without the compiled module, with ``EVSITE_PURE_PYTHON=1`` in the environment,
or when ``_native.c`` beside it is newer than the module (an edited source not
rebuilt yet: ``./dev setup`` rebuilds it).

Public API:
    NATIVE: the compiled module, or None when the Python loops run
    available() -> bool
    use_native(enabled) -> context manager (tests compare the two paths)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

_LOGGER = logging.getLogger(__name__)


def _is_stale(module: ModuleType) -> bool:
    """Whether the C source next to the built module is newer than it."""
    built = Path(module.__file__ or "")
    source = built.with_name("_native.c")
    try:
        return source.stat().st_mtime > built.stat().st_mtime
    except OSError:  # an installed wheel ships no source: nothing to compare
        return False


_compiled: ModuleType | None
try:
    from evsite.core import _native as _compiled
except ImportError:  # no compiler at install time: the pure-Python loops run
    _compiled = None
if _compiled is not None and _is_stale(_compiled):
    _LOGGER.warning(
        "%s is older than _native.c: using the Python allocator loops until it "
        "is rebuilt (./dev setup)",
        _compiled.__file__,
    )
    _compiled = None

NATIVE: ModuleType | None = None if os.environ.get("EVSITE_PURE_PYTHON") else _compiled


def available() -> bool:
    """Whether the compiled module was built and is current (whatever ``NATIVE`` is)."""
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
