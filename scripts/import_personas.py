"""Import discovered personas: `council import`, kept as a script (the project's layout).

The code is council/commands/import_personas.py; `council import --help` lists the flags.
"""

import sys

from council.commands.import_personas import main

if __name__ == "__main__":
    sys.exit(main())
