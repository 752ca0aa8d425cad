"""`python -m council <command>`: the same as the `council` console script."""

import sys

from council.commands import main

sys.exit(main())
