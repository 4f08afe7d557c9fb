"""The sandbox: run untrusted programs fast and safely, and report what they returned.

Isolated (when the kernel allows; `unitrl doctor` says which layers are active here):
- network: a new network namespace with no interface up, so no network at all;
- filesystem: a new mount namespace and pivot_root into read-only binds of the system and Python dirs
  (wherever they live, /tmp included) with a synthetic /etc (no host users, hosts or resolver), a private
  tmpfs /tmp that is replaced by a fresh one whenever a program left anything in it, and a per-program
  work dir; the old root is detached, so the caller's files (problems, samples, project data, home) are
  not reachable;
- processes: a PID namespace whose init is the zygote, so every process a program leaves (daemons, fork
  bombs) is killed and reaped after it; an own session and process group; RLIMIT_NPROC;
- identity: a spare unprivileged uid per worker when run as root (also with `--isolation none`: programs
  never run as root), otherwise a user namespace with all capabilities dropped; no_new_privs; the worker
  and its zygote are non-dumpable (no ptrace, no /proc/PID/mem);
- system calls: a seccomp filter denies what test programs never need (ptrace, process_vm_*, bpf,
  io_uring, keyctl, userfaultfd, perf_event_open, mount and namespace calls, module and kexec calls,
  SysV IPC creation...; see `seccomp`);
- IPC: an IPC namespace per worker with SysV IPC switched off (and any object removed between programs
  where it could not be), no POSIX message queues (RLIMIT_MSGQUEUE 0);
- resources: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps; a CPU-time alarm
  per step, a wall-clock deadline per step and per job enforced by the worker's supervisor;
  stdout/stderr drained and capped; returned values capped in bytes and in count before decoding;
- channels: each child gets fresh result and output pipes, drained to end-of-file after it and every
  process it started are dead; any malformed byte fails that program only;
- environment: scrubbed (no variable of the caller), fixed hash seed; the worker's configuration is
  sent over a pipe, not shown on its command line.
Verdicts are decided outside the program's process. Split asserts: only values reduced to exact builtin
types leave the child, expected values never enter it, and the trusted parent compares them with a
budgeted evaluator. Tests that cannot be split run in a separate harness process that never loads the
program: the program's names are proxies whose results come back as exact builtins. A missing result is
never a pass; exit codes and printed text mean nothing. A program that breaks its worker twice is charged
with a failure once a canary job shows the sandbox is healthy; otherwise the job is an
infrastructure error, never a failed test.

NOT isolated: CPU caches and timing side channels; the kernel itself beyond the seccomp deny-list (a
kernel exploit through an allowed syscall escapes); read-only system files under /usr and the Python
installation are readable; without namespaces (containers that forbid them) only rlimits, the process
group, the private work dir, the uid and seccomp remain, and the filesystem and network are then
reachable.
"""

# Lazy exports: the zygote imports `unitrl.sandbox.child` and must not pay for the parent's modules
# (every module it loads makes each fork slower).
_EXPORTS = {
    "Job": "unitrl.sandbox.jobs",
    "JobResult": "unitrl.sandbox.jobs",
    "Step": "unitrl.sandbox.jobs",
    "StepOutcome": "unitrl.sandbox.jobs",
    "Sandbox": "unitrl.sandbox.pool",
    "SandboxConfig": "unitrl.sandbox.pool",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
