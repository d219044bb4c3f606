"""``python -m her2map``: the core's command line without the harness."""

import sys

from her2map.cli import main

sys.exit(main())
