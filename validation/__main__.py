"""``python -m validation``: the full ``her2map`` command."""

import sys

from validation.cli import main

sys.exit(main())
