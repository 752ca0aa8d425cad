"""Serve a persona's trained adapter: `council register`, kept as a script (the project's layout).

The code is council/commands/register.py; `council register --help` lists the flags.
"""

import sys

from council.commands.register import main

if __name__ == "__main__":
    sys.exit(main())
