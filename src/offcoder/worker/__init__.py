"""The worker process: the host of the job loop and the periodic tasks, with least privilege.

It holds the settings, the database and the keyring (to open a job's secrets), and nothing
else: no token signing key, no AI or payment clients. It is the process beside the Docker
engine, the one closest to a sandbox escape (docs/decisions/0012-a-worker-with-least-privilege.md).
"""
