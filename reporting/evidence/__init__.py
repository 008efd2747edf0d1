"""The evidence frame: verified receipts as pandas rows for the checks."""
