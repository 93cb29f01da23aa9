"""``python -m switchsim.emu``: the ``switchsim emulate`` subcommand without the ``switchsim`` command."""

import sys

from switchsim.emu.run import main

if __name__ == "__main__":
    sys.exit(main())
