"""`python -m bff.admin ...`: the operator's CLI (see bff/admin/cli.py)."""

import sys

from bff.admin.cli import main

sys.exit(main())
