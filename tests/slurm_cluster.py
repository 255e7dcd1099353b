"""A throw-away single-node Slurm cluster in a temporary folder, for scheduler tests.

Debian's ``slurm-wlm`` (daemons), ``munge`` (authentication) and ``slurm-wlm-torque``
(a ``qsub`` wrapper that runs PBS-style scripts on Slurm) provide a real scheduler on
one machine.  ``SlurmCluster`` writes a minimal ``slurm.conf`` (one node, ``CPUS``
CPUs, Linux process tracking, no task plugin, no accounting), starts ``munged`` as the
munge user on a private socket, then ``slurmctld`` and ``slurmd`` on free ports, and
stops exactly the daemons it started, by PID.  Clients need ``env()`` (``SLURM_CONF``).
It needs root (the daemons and ``munged`` run as service users).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge", "slurm-wlm-torque")
DAEMONS = ("munged", "slurmctld", "slurmd", "qsub", "sinfo", "squeue")
MUNGE_USER = "munge"
MUNGE_KEY_BYTES = 1024
NODE_NAME = "node0"
CPUS = 2
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.2
INSTALL_TIMEOUT_S = 600
MB = 1024 * 1024

SLURM_CONF = """\
ClusterName=mitolibtest
SlurmctldHost={host}({addr})
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=300
MinJobAge=600
NodeName={node} NodeHostname={host} NodeAddr={addr} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def missing_tools() -> list[str]:
    """Names of the daemons and clients not found on PATH (or in /usr/sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(("/usr/sbin", "/sbin"))
    return [name for name in DAEMONS if shutil.which(name, path=path) is None]


def ensure_installed() -> str | None:
    """Install the Slurm packages with apt-get when missing; returns None, or why they are unavailable."""
    if not missing_tools():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{', '.join(missing_tools())} missing and cannot be installed (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}"
    missing = missing_tools()
    return f"still missing after install: {', '.join(missing)}" if missing else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    """Physical memory of this machine in MB (what slurmd reports), so memory requests can be met."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB


def _sbin(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or name


class SlurmCluster:
    """A one-node Slurm in ``root``; use as a context manager or call ``start``/``stop``."""

    def __init__(self, root: str | Path, cpus: int = CPUS):
        self.root = Path(root).resolve()
        self.cpus = cpus
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.pids: dict[str, int] = {}

    def env(self) -> dict:
        """Environment for Slurm clients (``sbatch``, ``qsub``, ``squeue``)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _start_munge(self) -> None:
        munge_dir = self.munge_socket.parent
        munge_dir.mkdir(parents=True)
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(MUNGE_KEY_BYTES))  # a private key: only this cluster's daemons use it
        key.chmod(0o400)
        shutil.chown(munge_dir, MUNGE_USER, MUNGE_USER)
        shutil.chown(key, MUNGE_USER, MUNGE_USER)
        munge_dir.chmod(0o755)
        pid_file = munge_dir / "munged.pid"
        subprocess.run(
            ["runuser", "-u", MUNGE_USER, "--", _sbin("munged"), f"--socket={self.munge_socket}",
             f"--key-file={key}", f"--pid-file={pid_file}", f"--log-file={munge_dir / 'munged.log'}",
             f"--seed-file={munge_dir / 'munged.seed'}", "--force"],
            check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S,
        )
        self.pids["munged"] = self._wait_pid(pid_file)

    def _wait_pid(self, pid_file: Path) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                return int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(POLL_S)
        raise RuntimeError(f"{pid_file} did not appear; see the logs in {self.root}")

    def start(self) -> "SlurmCluster":
        """Write the configuration and start munged, slurmctld and slurmd; wait until the node is idle."""
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        self.conf.write_text(SLURM_CONF.format(
            host=host, addr="127.0.0.1", node=NODE_NAME, cpus=self.cpus, root=self.root,
            ctld_port=_free_port(), slurmd_port=_free_port(), munge_socket=self.munge_socket,
            memory_mb=_memory_mb(),
        ))
        try:
            self._start_munge()
            env = self.env()
            subprocess.run([_sbin("slurmctld"), "-f", str(self.conf), "-i"], env=env, check=True, timeout=START_TIMEOUT_S)
            self.pids["slurmctld"] = self._wait_pid(self.root / "slurmctld.pid")
            subprocess.run([_sbin("slurmd"), "-f", str(self.conf), "-N", NODE_NAME], env=env, check=True, timeout=START_TIMEOUT_S)
            self.pids["slurmd"] = self._wait_pid(self.root / "slurmd.pid")
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        state = ""
        while time.monotonic() < deadline:
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env(), capture_output=True, text=True)
            state = done.stdout.strip()
            if done.returncode == 0 and state.startswith("idle"):
                return
            time.sleep(POLL_S)
        raise RuntimeError(f"node not idle after {START_TIMEOUT_S} s (state {state!r}); see {self.root}/*.log")

    def stop(self) -> None:
        """Stop the daemons this object started (slurmd, slurmctld, munged), by PID."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(POLL_S)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    from mitolib.studies.locks import _pid_alive

    if not _pid_alive(pid):
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True
