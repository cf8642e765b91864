#!/usr/bin/env python3
"""Entry point of the Lium API simulator: `python3 lium_sim.py --port 0 --state-dir DIR --config sim.json`.

Checks the machine (root, sshd, unshare), reads the config (`liumsim.config`), claims the state
directory (a `sim.pid` lock; pod directories left by a simulator that was killed are cleaned),
serves `liumsim.api` on 127.0.0.1, and prints one JSON line on stdout once it accepts requests:
`{"url", "base_url", "admin", "pid", "state_dir", "startup_ms"}`. `base_url` (`url` + `/api`) is
what `LIUM_BASE_URL` takes. SIGTERM or SIGINT (or `POST /_admin/shutdown`) stops it: every pod's
sshd is killed, every pod directory removed, exit 0. Bad input exits 2 with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

T0 = time.monotonic()
sys.path.insert(0, str(Path(__file__).resolve().parent))

from liumsim import config as configmod  # noqa: E402
from liumsim.api import SimServer  # noqa: E402
from liumsim.podhost import PodHostError, check_prerequisites  # noqa: E402
from liumsim.world import World  # noqa: E402


def fail(message: str) -> None:
    print(f"lium-sim: {message}", file=sys.stderr)
    sys.exit(2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"lium_sim" in fh.read()
    except OSError:
        return False


def kill_leftovers(state_dir: Path) -> int:
    """Kill processes whose command line names this state dir (pods of a killed simulator)."""
    marker = str(state_dir / "pods").encode()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker in fh.read():
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
        except (OSError, ProcessLookupError):
            pass
    return killed


def claim_state_dir(state_dir: Path) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = state_dir / "sim.pid"
    if lock.exists():
        try:
            other = int(lock.read_text().strip() or "0")
        except ValueError:
            other = 0
        if other and other != os.getpid() and _alive(other):
            fail(f"state dir {state_dir} is used by a running simulator (pid {other}); stop it or pick another dir")
    kill_leftovers(state_dir)
    shutil.rmtree(state_dir / "pods", ignore_errors=True)
    lock.write_text(str(os.getpid()))
    return lock


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Loopback simulator of the Lium REST API (pods are real sshd)")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--state-dir", required=True, help="directory for pod dirs, keys, sshd logs (cleaned on exit)")
    ap.add_argument("--config", help="JSON config (see README.md); defaults when absent")
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request on stderr")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        fail(f"--port must be 0-65535, got {args.port}")
    try:
        cfg = configmod.load(args.config)
    except configmod.ConfigError as exc:
        fail(str(exc))
    try:
        check_prerequisites()
    except PodHostError as exc:
        fail(str(exc))
    state_dir = Path(args.state_dir).resolve()
    lock = claim_state_dir(state_dir)

    world = World(cfg, state_dir)
    try:
        server = SimServer(("127.0.0.1", args.port), world, verbose=args.verbose)
    except OSError as exc:
        world.close()
        lock.unlink(missing_ok=True)
        fail(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}"
    print(json.dumps({"url": url, "base_url": f"{url}/api", "admin": f"{url}/_admin", "pid": os.getpid(),
                      "state_dir": str(state_dir), "startup_ms": round((time.monotonic() - T0) * 1000, 1)}),
          flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        world.close()
        kill_leftovers(state_dir)
        shutil.rmtree(state_dir / "pods", ignore_errors=True)
        lock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
