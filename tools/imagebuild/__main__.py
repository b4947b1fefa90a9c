"""``python -m imagebuild``: the same as the ``decig-image`` command."""

import sys

from imagebuild.cli import main

sys.exit(main())
