"""Builds the ingester's compiled decoder kernel (``ingest/kernel.pyx``) at install time.

Everything else is in ``pyproject.toml``. The extension is optional: where no C compiler
is found the install still succeeds, and the ingester decodes in Python (slower; it says
so in its log at start).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize(
    [Extension("ingest.kernel", ["ingest/kernel.pyx"], optional=True,
               extra_compile_args=["-O3"])],
    compiler_directives={"language_level": "3"}))
