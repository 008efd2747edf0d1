"""The evidence report: model, charts, HTML, PDF and exports."""
