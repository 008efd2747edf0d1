"""`python -m reporting` is the same as the `agent-evidence` console script."""

from reporting.cli import console

raise SystemExit(console())
