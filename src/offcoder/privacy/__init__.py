"""Personal-data export (V3)."""
