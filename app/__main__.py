"""``python -m app`` is the ``sieve`` command."""

import sys

from app.cli import main

sys.exit(main())
