"""Start AI Council: `python run.py [--host HOST] [--port PORT] [--demo] [--allow-remote]`.

The same as `council run` (council/commands/run.py), kept as a script for the project's layout.
"""

import sys

from council.commands.run import main

if __name__ == "__main__":
    sys.exit(main())
