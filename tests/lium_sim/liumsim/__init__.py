"""A loopback simulator of the Lium GPU-marketplace REST API (`docs/lium-simulator.md`).

Owns nothing itself; the modules split the work:

- `config`  reads and checks the JSON config file (executors, templates, knobs, delays).
- `knobs`   the failure-injection table: each knob's shape, where it applies, how it is consumed.
- `podhost` one pod's "container": a real `sshd` in its own mount and PID namespace.
- `world`   the account, executors, pods and their state machine, idempotency, the request log.
- `api`     the HTTP layer: routes, auth, status codes and error bodies, admin routes.

Data flows config -> World; the HTTP handler turns each request into a World call under its lock;
World's timer thread moves pods through their states and starts or kills their PodHosts.
"""
