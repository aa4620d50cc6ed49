"""Personal-data breaches (V2) and the sub-processors we publish (V4)."""
