"""`python -m spheron_jupyter.kernel ... -f CONNECTION_FILE`: the kernelspec's argv (launcher.py)."""

import sys

from .launcher import main

sys.exit(main())
