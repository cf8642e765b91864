"""One pod's "container": a real OpenSSH server in its own mount and PID namespace.

A `PodHost` owns a directory `<state-dir>/pods/<pod id>/` holding the pod's host key, its
`authorized_keys` (the rent body's `user_public_key` lines), its `sshd_config`, its sshd log and
`mnt/`, the directory the pod sees as `/mnt`. `start()` runs

    setpriv --pdeathsig KILL unshare --kill-child --mount --pid --mount-proc --propagation private \
        sh -c 'mount --bind <dir>/mnt /mnt && exec /usr/sbin/sshd -D -e -f <dir>/sshd_config'

in a new session (forked from one long-lived thread, so the pod dies with the simulator), so sshd is PID 1 of a fresh PID namespace and sees a private `/mnt`: two pods
never share files there, and every process a login starts lives in that namespace. `start()`
returns once the port answers with an `SSH-` banner. `stop()` kills the process group with
SIGKILL; the kernel then kills every process of the PID namespace (the pod's logins included),
and a sweep of /proc kills anything still holding the pod's mount namespace. The namespace is
held open from the start until that sweep: a namespace's inode number is reused by the next one
as soon as it is freed, so a sweep by a number that is not held could kill another pod's sshd
(of this simulator or another). `remove()` also
deletes the directory. A port can be held "silent" (accepting, never answering) to simulate an
sshd that is not up yet.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import List, Optional

SSHD = "/usr/sbin/sshd"
UNSHARE = "unshare"
READY_TIMEOUT_S = 15.0


class _Spawner:
    """Forks every pod from one long-lived thread.

    The pod's launcher is run under `setpriv --pdeathsig KILL`, and a parent-death signal fires
    when the *thread* that forked the child ends; forking from short-lived worker threads would
    kill pods at once. With this thread, a simulator that dies (even by SIGKILL) takes its pods'
    launchers with it, and `unshare --kill-child` then takes the whole PID namespace.
    """

    def __init__(self) -> None:
        self.q: "queue.Queue" = queue.Queue()
        threading.Thread(target=self._run, name="lium-sim-spawner", daemon=True).start()

    def _run(self) -> None:
        while True:
            argv, kwargs, box, done = self.q.get()
            try:
                box.append(subprocess.Popen(argv, **kwargs))
            except BaseException as exc:  # handed back to the caller, raised there
                box.append(exc)
            done.set()

    def popen(self, argv: List[str], **kwargs) -> subprocess.Popen:
        box: list = []
        done = threading.Event()
        self.q.put((argv, kwargs, box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


_SPAWNER: Optional[_Spawner] = None
_SPAWNER_LOCK = threading.Lock()


def _spawner() -> _Spawner:
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = _Spawner()
        return _SPAWNER


class PodHostError(RuntimeError):
    """sshd could not be started for a pod; the message carries sshd's own log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_prerequisites() -> None:
    """Refuse to start when pods cannot be real: sshd missing, not root, or no namespaces."""
    if not os.access(SSHD, os.X_OK):
        raise PodHostError(
            f"{SSHD} is missing: install it with `apt-get install -y openssh-server` (pods are real sshd processes)"
        )
    if shutil.which(UNSHARE) is None:
        raise PodHostError("`unshare` (util-linux) is missing: install it with `apt-get install -y util-linux`")
    if shutil.which("setpriv") is None:
        raise PodHostError("`setpriv` (util-linux) is missing: install it with `apt-get install -y util-linux`")
    if shutil.which("ssh-keygen") is None:
        raise PodHostError("`ssh-keygen` is missing: install it with `apt-get install -y openssh-client`")
    if os.geteuid() != 0:
        raise PodHostError(
            "the simulator must run as root: each pod is an sshd in its own mount and PID namespace "
            "(unshare) that logs users in as root"
        )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory


def _mnt_ns(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def pids_in_mount_ns(ns: str) -> List[int]:
    """Every live process whose mount namespace is `ns` (a `mnt:[inode]` link)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _mnt_ns(int(entry)) == ns:
            found.append(int(entry))
    return found


class PodHost:
    """The sshd of one pod; see the module header. All methods are thread-safe."""

    def __init__(self, pod_id: str, base: Path, public_keys: List[str], user: str = "root"):
        self.pod_id = pod_id
        self.dir = base / pod_id
        self.mnt = self.dir / "mnt"
        self.user = user
        self.host = "127.0.0.1"
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.ns: Optional[str] = None
        self._ns_fd: Optional[int] = None  # holds the namespace `ns` names (see the module header)
        self.removed = False
        self._lock = threading.Lock()
        self._silent: Optional[socket.socket] = None
        self._silent_conns: List[socket.socket] = []
        self.mnt.mkdir(parents=True, exist_ok=True)
        (self.dir / "authorized_keys").write_text("".join(k.strip() + "\n" for k in public_keys))
        os.chmod(self.dir / "authorized_keys", 0o600)
        self.new_host_key()

    # ---- keys and config -------------------------------------------------------------------

    def new_host_key(self) -> None:
        """A fresh ed25519 host key (a new pod, or a rebooted one)."""
        key = self.dir / "ssh_host_ed25519_key"
        for p in (key, key.with_name(key.name + ".pub")):
            if p.exists():
                p.unlink()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lium-sim-pod-{self.pod_id}", "-f", str(key)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
        )

    def host_key_line(self) -> str:
        return (self.dir / "ssh_host_ed25519_key.pub").read_text().strip()

    def _write_config(self) -> Path:
        d = self.dir
        cfg = d / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {d / 'ssh_host_ed25519_key'}\nPidFile none\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nUsePAM no\nStrictModes no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPrintMotd no\nMaxSessions 64\nMaxStartups 64:30:128\n"
            f"LogLevel VERBOSE\nSubsystem sftp internal-sftp\nAllowUsers {self.user}\n"
            # A pod shares the simulator host's home directories, whose shell startup files
            # are not a pod's: SHLVL=1 keeps bash from reading ~/.bashrc for ssh commands (it
            # does so at shell level 1 only), so a slow or locking one (pyenv's rehash lock,
            # left behind when a pod is killed mid-login) cannot stall every later login.
            f"SetEnv LIUM_SIM_POD_ID={self.pod_id} SHLVL=1\n"
        )
        return cfg

    # ---- silent port -----------------------------------------------------------------------

    def hold_silent(self) -> None:
        """Listen on the pod's port and accept connections without ever sending a banner."""
        with self._lock:
            if self._silent is not None:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            s.listen(64)
            self._silent = s
        threading.Thread(target=self._silent_accept, args=(s,), daemon=True).start()

    def _silent_accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            with self._lock:
                if self._silent is not s:
                    conn.close()
                    return
                self._silent_conns.append(conn)

    def release_silent(self) -> None:
        with self._lock:
            s, conns = self._silent, self._silent_conns
            self._silent, self._silent_conns = None, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # ---- process ---------------------------------------------------------------------------

    def start(self, *, keep_port: bool = False) -> None:
        """Start sshd and wait for its banner; a few fresh ports are tried when one is taken."""
        last = ""
        for attempt in range(5):
            with self._lock:
                if self.removed:
                    raise PodHostError(f"pod {self.pod_id} was removed while its sshd was starting")
                if self.port is None or (attempt > 0 and not keep_port):
                    self.port = free_port(self.host)
                cfg = self._write_config()
                log = open(self.dir / "sshd.log", "ab")
                try:
                    self.proc = _spawner().popen(
                        ["setpriv", "--pdeathsig", "KILL",
                         UNSHARE, "--kill-child", "--mount", "--pid", "--mount-proc", "--propagation", "private",
                         "/bin/sh", "-c", 'mount --bind "$1" /mnt && exec "$2" -D -e -f "$3"',
                         "sh", str(self.mnt), SSHD, str(cfg)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    )
                finally:
                    log.close()
                proc = self.proc
            ok, last = self._wait_banner(proc)
            if ok:
                with self._lock:
                    self._hold_ns(_children(proc.pid))
                    if self.removed:
                        self._kill_locked()
                        raise PodHostError(f"pod {self.pod_id} was removed while its sshd was starting")
                return
            with self._lock:
                self._kill_locked()
            if "Address already in use" not in last:
                break
            if keep_port:
                time.sleep(0.2)  # the same port is promised to clients: wait for it instead of moving
        raise PodHostError(f"sshd for pod {self.pod_id} did not start on {self.host}:{self.port}: {last.strip()[-2000:]}")

    def _wait_banner(self, proc: subprocess.Popen) -> tuple:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False, self._log_tail()
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.settimeout(2.0)
                    if s.recv(64).startswith(b"SSH-"):
                        return True, ""
            except OSError:
                pass
            time.sleep(0.02)
        return False, f"no SSH banner within {READY_TIMEOUT_S:g} s; log: {self._log_tail()}"

    def _log_tail(self) -> str:
        try:
            return (self.dir / "sshd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _hold_ns(self, kids: List[int]) -> None:
        """Open the mount namespace of the pod's first process and remember its name."""
        self.ns, self._ns_fd = None, None
        if not kids:
            return
        try:
            fd = os.open(f"/proc/{kids[0]}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        self.ns, self._ns_fd = os.readlink(f"/proc/self/fd/{fd}"), fd

    def _kill_locked(self) -> None:
        proc, ns, fd = self.proc, self.ns, self._ns_fd
        self.proc, self.ns, self._ns_fd = None, None, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # Never by namespace when `ns` is not a namespace of the pod's own: a pod whose sshd was
        # read before it entered its namespace would name the simulator's, and every process
        # of the machine would be killed.
        if ns is not None and ns not in (_mnt_ns(os.getpid()), _mnt_ns(1)):
            for _ in range(50):
                left = pids_in_mount_ns(ns)
                if not left:
                    break
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
        if fd is not None:
            os.close(fd)

    def running(self) -> bool:
        with self._lock:
            return self.proc is not None and self.proc.poll() is None

    def pid(self) -> Optional[int]:
        with self._lock:
            return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        """Kill sshd and every process of the pod; the port stops answering."""
        self.release_silent()
        with self._lock:
            self._kill_locked()

    def remove(self) -> None:
        """Stop, then delete the pod's directory (its /mnt contents included)."""
        with self._lock:
            self.removed = True
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
