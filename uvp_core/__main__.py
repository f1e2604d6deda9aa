"""Entry point for `python -m uvp_core`."""

import sys

from uvp_core.cli import main

sys.exit(main())
