"""``python -m paysys`` is the same as the ``paysys`` command."""

import sys

from paysys.cli import main

sys.exit(main())
