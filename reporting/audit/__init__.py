"""Checking a report you received: its signatures, its files, its faithfulness to its sources."""
