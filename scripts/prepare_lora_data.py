"""Write LoRA training pairs: `council train-data`, kept as a script (the project's layout).

The code is council/commands/train_data.py; `council train-data --help` lists the flags.
"""

import sys

from council.commands.train_data import main

if __name__ == "__main__":
    sys.exit(main())
