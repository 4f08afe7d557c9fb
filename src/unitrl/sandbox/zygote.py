"""The sandbox's zygote: a lean process, PID 1 of the worker's PID namespace, that forks one child per program.

It is forked once by the worker's supervisor (`supervisor.Supervisor`) after the namespaces are entered.
On each "go" message (which carries the fresh result and output pipes for that one child, as SCM_RIGHTS
file descriptors) it forks a child, closes its own copies of those pipes at once (so that when the
program and everything it started are dead the supervisor reads end-of-file: nothing of one program can
reach the next one's channel), waits for the child (killing it when told), kills and reaps every process
the program left behind (`kill(-1)` as PID 1 removes daemons too; without a PID namespace, a loop over
the children it is subreaper of and over the children's private uid, until none is left), and reports
the wait status. Because it touches so little memory between forks, each fork costs it few
copy-on-write faults. Process-wide restrictions are set here once and inherited by every child:
no_new_privs, the seccomp filter, dropped capabilities (user namespace), signal dispositions, no POSIX
message queues (RLIMIT_MSGQUEUE 0) and SysV IPC switched off in the namespace.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import resource
import select
import signal
import socket
import struct
import time

from unitrl.sandbox import child, rootfs, seccomp, wire  # noqa: F401 - loaded before any fork

PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_NAME = 36, 4, 1, 15

# What HumanEval/ACECODER-style programs import most (typing, math, random, copy, string, collections,
# re) plus the other algorithmic staples. More modules make every fork slower: measured, not guessed.
# hashlib is left out on purpose: its OpenSSL mapping alone adds about 10% to every fork, while few
# programs import it (those pay the import themselves).
PREIMPORT = "bisect collections copy functools heapq itertools math operator random re string typing".split()

_libc = ctypes.CDLL(None, use_errno=True)
_libc_gil = ctypes.PyDLL(None, use_errno=True)  # calls that keep the GIL held

GO, KILL = b"g", b"k"  # supervisor -> zygote commands (GO carries the child's two pipe write ends)
STATUS = struct.Struct("<ii")  # zygote -> supervisor: (child pid or -errno when fork failed, wait status)
# The zygote's ready byte is "Z" followed by one byte of flags: what it could set up.
READY_PROC, READY_SECCOMP, READY_SYSV = 1, 2, 4


def fast_fork() -> int:
    """libc's fork(), called with the GIL held, skipping Python's own at-fork hooks.

    `os.fork()` runs the interpreter's after-fork work in every child (re-creating the GIL and the import
    lock, the at-fork callbacks such as `random` reseeding itself from the OS): about half of the cost of a
    fork-and-exit here. The zygote is single-threaded and holds no lock when it forks, so none of that is
    needed; the child's `random` state is the zygote's, which `main` seeds once, so a program that uses
    `random` gets the same stream every run (reproducible verdicts).
    """
    pid = _libc_gil.fork()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    return pid


# ------------------------------------------------------------------------------------------ zygote


class Channels:
    """File descriptors shared by supervisor, zygote and children (each closes the ends it must not hold).

    The result and output pipes are NOT here: the supervisor makes a fresh pair for every child."""

    def __init__(self) -> None:
        self.ctl_sup, self.ctl_zyg = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.st_r, self.st_w = os.pipe()  # zygote -> supervisor: STATUS records (and the ready bytes)
        self.job = os.memfd_create("unitrl-job")  # supervisor -> child: the compiled job (no sealing)
        self.stdin = os.memfd_create("unitrl-stdin")  # a stdio test's input
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.progress = mmap.mmap(-1, mmap.PAGESIZE)  # shared: the step the child is running
        os.set_blocking(self.st_r, False)

    def zygote_side(self) -> None:
        self.ctl_sup.close()
        os.close(self.st_r)

    def supervisor_side(self) -> None:
        self.ctl_zyg.close()
        os.close(self.st_w)


def serve_zygote(ch: Channels, is_init: bool, drop: dict, proc_path: str | None) -> None:
    """The zygote's loop (never returns). Between forks it only waits, so its pages stay shared.

    `proc_path` is where the new root's /proc is (seen from the old root, which the supervisor leaves
    once this process is ready)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(PR_SET_NAME, b"unitrl-zygote", 0, 0, 0)
    flags = 0
    if proc_path:
        nosuid = rootfs.MS_NOSUID | rootfs.MS_NODEV | rootfs.MS_NOEXEC
        try:
            rootfs.mount("proc", proc_path, "proc", nosuid)
            flags |= READY_PROC
            if rootfs.lock_sysv(proc_path):
                flags |= READY_SYSV
            # read-only from here on: a child cannot turn SysV IPC (or anything else) back on
            rootfs.mount(
                None, proc_path, None, rootfs.MS_BIND | rootfs.MS_REMOUNT | rootfs.MS_RDONLY | nosuid
            )
        except OSError:
            pass  # no /proc inside: programs that read it fail, nothing else changes
    if not is_init:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a program come back to us
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # no POSIX message queues (they outlive processes)
    child.prepare_zygote(drop)
    if drop.get("seccomp", True) and seccomp.install_filter()[0]:
        flags |= READY_SECCOMP
    _libc.malloc_trim(0)  # hand freed heap pages back: fewer pages to copy at each fork
    os.write(ch.st_w, b"Z" + bytes([flags]))
    ctl = ch.ctl_zyg
    while True:
        try:
            command, fds, _, _ = socket.recv_fds(ctl, 1, 2)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not command:  # the supervisor is gone
            os._exit(0)
        if command != GO or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue  # a KILL that arrived after its child had already ended
        try:
            pid = fast_fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            os.write(ch.st_w, STATUS.pack(-(exc.errno or errno.EAGAIN), 0))
            continue
        if pid == 0:
            ctl.close()
            os.close(ch.st_w)
            child.start(ch.job, fds[0], fds[1], ch.stdin, ch.devnull, ch.progress, drop)
        for fd in fds:  # only the child (and what it starts) holds the write ends now
            os.close(fd)
        status = _await_child(pid, ctl.fileno(), is_init)
        _cleanup(pid, is_init, drop)
        os.write(ch.st_w, STATUS.pack(pid, status))


def _await_child(pid: int, ctl_fd: int, is_init: bool) -> int:
    """Wait for the child to end; a KILL from the supervisor (deadline, output cap) ends it first."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd, ctl_fd], [], [])
        if pidfd not in ready:
            try:
                os.read(ctl_fd, 16)  # KILL (or end of file: the supervisor is gone): either way, kill it now
            except OSError:
                pass
            _kill_all(pid, is_init)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return status


def _kill_all(pid: int, is_init: bool) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if is_init:
        try:
            os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: every other process in it
        except ProcessLookupError:
            pass


def _cleanup(pid: int, is_init: bool, drop: dict) -> None:
    """Nothing the program started outlives it: kill and reap until no process of it is left.

    As PID 1 of the namespace, kill(-1) reaches every process in it. Without a PID namespace this process
    is a subreaper, so every orphan of the program is (or soon becomes) its child: kill the children's uid
    (when there is a private one) and every child, reap, and repeat until no child remains (a process in
    the middle of a fork or of being re-parented shows up on a later round)."""
    _kill_all(pid, is_init)
    deadline = time.monotonic() + 10.0
    while True:
        if not is_init:
            if drop["uid"] is not None:
                _kill_uid(drop["uid"])
            _kill_children_of(os.getpid())
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left at all
        if reaped == 0:
            if time.monotonic() > deadline:
                return  # a process we cannot kill: the supervisor's health check will replace us
            if is_init:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.0005)


def _kill_uid(uid: int) -> None:
    """Without a PID namespace: kill every process of the children's private uid (from a helper fork)."""
    pid = fast_fork()
    if pid == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _kill_children_of(ppid: int) -> None:
    """Kill our remaining children (orphans of a program re-parented to this subreaper)."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as fh:
            pids = [int(p) for p in fh.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _status_from_wait(status: int) -> str:
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXFSZ:
        return "output-limit"
    return "error"


def _detail_from_wait(status: int, kill_reason: str) -> str:
    if kill_reason == "timeout":
        return "wall-clock limit exceeded"
    if kill_reason == "output-limit":
        return "output limit exceeded"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return ""
