"""Agent Receipts: reading sources, trusting keys, and verifying chains independently."""
