"""Entry point of the frozen app: point fada_desk at the bundled resources, then run the CLI."""

import os
import sys

if getattr(sys, "frozen", False):
    os.environ.setdefault("FADA_DESK_RESOURCES", os.path.join(sys._MEIPASS, "resources"))  # type: ignore[attr-defined]

from fada_desk.cli import main  # noqa: E402

sys.exit(main())
