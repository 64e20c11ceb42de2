"""`cleantech …`: see cleantech/cli.py."""

from cleantech.cli import main

raise SystemExit(main())
