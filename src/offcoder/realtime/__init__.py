"""What reaches clients as it happens: the database signals every API process listens to
(`signals.py`: job events, ended sessions) and the Socket.IO server with its per-job feeds
(`live.py`, D2). It imports the domains it serves; no domain imports the Socket.IO server."""
