"""``python -m cityhub``: same as the ``cityhub`` command."""

import sys

from cityhub.cli import main

sys.exit(main())
