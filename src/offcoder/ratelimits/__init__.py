"""Rate limits (docs/api.md "Rate limits", decision 0025): how many calls a client address, a
user or a live-log connection may make in a window, counted with the `limits` library in
PostgreSQL or Redis so that every API process on one deployment shares the counts."""
