"""Train a persona's LoRA adapter: `council train`, kept as a script (the project's layout).

The code is council/commands/train.py; `council train --help` lists the flags.
"""

import sys

from council.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
