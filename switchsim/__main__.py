"""``python -m switchsim``: the ``switchsim`` command (`switchsim.cli.main`), with its exit status."""

import sys

from switchsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
