"""Discover personas in a chat export: `council discover`, kept as a script (the project's layout).

The code is council/commands/discover.py; `council discover --help` lists the flags.
"""

import sys

from council.commands.discover import main

if __name__ == "__main__":
    sys.exit(main())
