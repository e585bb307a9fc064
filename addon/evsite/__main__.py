"""``python -m evsite``."""

import sys

from evsite.cli import main

sys.exit(main())
