"""What reaches clients and workers as it happens: the signals between our processes
(`signals.py`: job events and ended sessions for the API, queued jobs and cancels for workers;
the one way any of them is sent or heard) and the Socket.IO server with its per-job feeds
(`live.py`, D2). It imports the domains it serves; no domain imports the Socket.IO server."""
