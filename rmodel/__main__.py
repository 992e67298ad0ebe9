"""``python -m rmodel`` is the ``rmodel`` command."""

import sys

from .cli import main

sys.exit(main())
