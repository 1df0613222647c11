"""Allow ``python -m airlock``."""

from airlock.cli import main

raise SystemExit(main())
