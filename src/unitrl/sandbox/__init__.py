"""The sandbox: run untrusted programs fast and safely, and report what they returned.

Isolated (when the kernel allows; `unitrl doctor` says which layers are active here):
- network: a new network namespace with no interface up, so no network at all;
- filesystem: a new mount namespace and chroot into read-only binds of the system and Python dirs, a
  private tmpfs /tmp and a per-program work dir that is removed afterwards; the caller's files (problems,
  samples, project data, home) are not visible;
- processes: a PID namespace whose init is the zygote, so every process a program leaves (daemons, fork
  bombs) is killed and reaped after it; an own session and process group; RLIMIT_NPROC;
- identity: a spare unprivileged uid per worker when run as root, otherwise a user namespace with all
  capabilities dropped; no_new_privs; the worker and its zygote are non-dumpable (no ptrace, no /proc/PID/mem);
- resources: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps; a CPU-time alarm
  per step and a wall-clock deadline enforced by the worker's supervisor; stdout/stderr drained and capped;
- environment: scrubbed (no variable of the caller), fixed hash seed.
Verdicts are decided in the trusted parent: for `eval` steps only values reduced to exact builtin types
leave the child, and expected values never enter it; a missing result is never a pass; exit codes and
printed text mean nothing.

NOT isolated: CPU caches and timing side channels; the kernel itself (no seccomp filter: a kernel exploit
escapes); read-only system files under /usr, /etc and the Python installation are readable; `exec` steps
(tests that cannot be split into values and a comparison) report "raised or not" from inside the child,
which a program that tampers with its own interpreter can forge; without namespaces (containers that
forbid them) only rlimits, the process group, the private work dir and the uid remain, and the
filesystem and network are then reachable.
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
