"""Build of nhihub's one compiled module (everything else is in pyproject.toml).

``nhihub.formats._native`` reads a plain ``<REC>`` straight from the tree lxml has built (see
its source for why). It is compiled against the libxml2 headers that ship with lxml, so lxml is a
build requirement. ``optional=True``: without a C compiler the package still installs and the
reader uses its Python path, which gives the same results more slowly.
"""

from setuptools import Extension, setup

try:
    import lxml
except ImportError:  # e.g. --no-build-isolation without lxml: install the Python path only
    extensions = []
else:
    extensions = [
        Extension(
            "nhihub.formats._native",
            sources=["src/nhihub/formats/_native.c"],
            include_dirs=lxml.get_include(),
            optional=True,
        )
    ]

setup(ext_modules=extensions)
