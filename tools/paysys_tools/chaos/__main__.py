"""``python -m paysys_tools.chaos``: see :mod:`paysys_tools.chaos.cli`."""

import sys

from paysys_tools.chaos.cli import main

sys.exit(main())
