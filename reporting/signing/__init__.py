"""Signing reports and verifying signed reports offline."""
