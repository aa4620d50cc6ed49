"""The admin dashboard: its own server-rendered app on its own address (decision 0036)."""
