"""Build hook for the one part pyproject.toml cannot declare stably: the C code.

The allocator's inner loops are compiled from ``addon/evsite/core/_native.c``
(see ``evsite/core/native.py``). The extension is optional: without a C
compiler the install goes on and the same loops run in pure Python.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "evsite.core._native",
            ["addon/evsite/core/_native.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
