"""``decig`` command line: :func:`main` assembles one parser from every area's command group.

Each group lives beside the code it drives (``decig/<area>/cli.py``) and takes its shared options
from :mod:`decig.cli.common`; nothing imports back from this package's ``main``.
"""

from decig.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
