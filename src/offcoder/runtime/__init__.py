"""The sandbox runtime, laid out by process and trust (decision 0011).

- `policy`: the shared contract (the container spec, the create-body check, labels, the egress
  gateway's address and allow-list rules), imported by both sides.
- `client`: the worker's side, speaking to the proxy's socket.
- `catalogue`: the runtime images' names and references, cheap to import.
- `proxy/`: the `offcoder docker-proxy` process; `sandbox/`: code run inside containers;
  `build/`: the image builder.
"""
