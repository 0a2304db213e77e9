"""`python -m lazyllm ...`: see lazyllm/cli.py."""

import sys

from .cli import main

sys.exit(main())
