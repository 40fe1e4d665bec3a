"""``python -m nbimages ...``: the same as the ``nbimages`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
