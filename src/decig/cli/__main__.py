"""``python -m decig.cli`` (what torchrun launches for data-parallel training)."""

import sys

from decig.cli.main import main

sys.exit(main())
