"""`python -m reporting` is the same as the `agent-evidence` console script."""

from reporting.cli import main

raise SystemExit(main())
