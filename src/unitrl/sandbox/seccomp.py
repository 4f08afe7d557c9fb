"""A seccomp deny-list for the sandbox's children, built as classic BPF by hand (no libseccomp needed).

`install_filter()` is called once in the zygote (which has already set no_new_privs); every child it forks
inherits the filter, and nothing can remove it. The filter first checks the audit architecture: x86_64 and
aarch64 have their own syscall-number tables, and any other ABI seen at run time (i386 through `int 0x80`
on x86_64, say) kills the process; on x86_64 the x32 ABI (nr & 0x40000000) gets EPERM. It then refuses
with EPERM what no test program needs and what widens the kernel surface (`DENIED`): debugging and
reading other processes (ptrace, process_vm_*, kcmp, pidfd_getfd), the keyring, bpf, perf, userfaultfd,
io_uring, kexec and modules, every mount, namespace and root change (old and new mount API, setns,
unshare, chroot, pivot_root), file handles, fanotify, swap, reboot, the kernel log, accounting, quotas,
clocks, port I/O (x86), vhangup, lookup_dcookie and the SysV IPC creators (a program must not leave IPC
objects behind). clone3 gets ENOSYS so that glibc falls back to clone, whose flags BPF can read: a clone
with a namespace flag gets EPERM (CLONE_NEWTIME shares the exit-signal byte in clone(), so that bit only
refuses exit signals the kernel rejects anyway). personality is allowed only to query (0xffffffff) or to
set PER_LINUX (0). Everything else is allowed: this narrows the kernel surface, it is not an allow-list,
and it complements (does not replace) the namespaces, rlimits and dropped privileges of the sandbox.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

# The namespace flags of clone(2); CLONE_NEWTIME (0x80) is in the exit-signal byte there, see the docstring.
CLONE_NAMESPACES = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
CLONE_NAMESPACES |= 0x02000000 | 0x00000080  # NEWCGROUP, NEWTIME
PERSONALITY_QUERY, PER_LINUX = 0xFFFFFFFF, 0

# Refused outright with EPERM (iopl and ioperm exist on x86_64 only). quotactl_fd and open_tree_attr are
# the newer twins of quotactl and open_tree.
DENIED: tuple[str, ...] = tuple(
    """
    ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd
    keyctl add_key request_key bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register
    kexec_load kexec_file_load init_module finit_module delete_module
    mount umount2 pivot_root chroot setns unshare
    fsopen fsconfig fsmount fspick open_tree open_tree_attr move_mount mount_setattr
    open_by_handle_at name_to_handle_at fanotify_init lookup_dcookie
    swapon swapoff reboot syslog acct quotactl quotactl_fd vhangup
    settimeofday clock_settime clock_adjtime adjtimex iopl ioperm
    shmget msgget semget
    """.split()
)

# Numbers written by hand from arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h;
# tests/sandbox/test_seccomp.py checks them against the installed kernel headers.
# fmt: off
X86_64: dict[str, int] = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "setns": 308,
    "unshare": 272, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "open_tree": 428,
    "open_tree_attr": 467, "move_mount": 429, "mount_setattr": 442, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "fanotify_init": 300, "lookup_dcookie": 212, "swapon": 167, "swapoff": 168,
    "reboot": 169, "syslog": 103, "acct": 163, "quotactl": 179, "quotactl_fd": 443, "vhangup": 153,
    "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "iopl": 172,
    "ioperm": 173, "shmget": 29, "msgget": 68, "semget": 64,
    "clone": 56, "clone3": 435, "personality": 135, "seccomp": 317,
}
AARCH64: dict[str, int] = {
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
    "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
    "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "setns": 268,
    "unshare": 97, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "open_tree": 428,
    "open_tree_attr": 467, "move_mount": 429, "mount_setattr": 442, "open_by_handle_at": 265,
    "name_to_handle_at": 264, "fanotify_init": 262, "lookup_dcookie": 18, "swapon": 224, "swapoff": 225,
    "reboot": 142, "syslog": 116, "acct": 89, "quotactl": 60, "quotactl_fd": 443, "vhangup": 58,
    "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
    "shmget": 194, "msgget": 186, "semget": 190,
    "clone": 220, "clone3": 435, "personality": 92, "seccomp": 277,
}
# fmt: on

# (audit arch, table, whether the x32 bit must be refused) for each platform.machine() we support
ARCHES: dict[str, tuple[int, dict[str, int], bool]] = {
    "x86_64": (AUDIT_ARCH_X86_64, X86_64, True),
    "amd64": (AUDIT_ARCH_X86_64, X86_64, True),
    "aarch64": (AUDIT_ARCH_AARCH64, AARCH64, False),
    "arm64": (AUDIT_ARCH_AARCH64, AARCH64, False),
}

# classic BPF opcodes and the offsets of struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];}
LD_ABS_W, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
OFF_NR, OFF_ARCH, OFF_ARG0_LOW = 0, 4, 16  # low 32 bits of args[0]: both arches are little-endian
SOCK_FILTER = struct.Struct("=HBBI")


def _assemble(code: list[tuple]) -> bytes:
    """Turn (opcode, k, jt, jf) rows, or a bare label string, into sock_filter bytes. A jump target is a
    label name or 0 (the next instruction); classic BPF jumps only forward, by at most 255."""
    labels, rows = {}, []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(rows)
        else:
            rows.append(item)
    out = bytearray()
    for i, (op, k, jt, jf) in enumerate(rows):
        offsets = [labels[t] - i - 1 if isinstance(t, str) else t for t in (jt, jf)]
        if not all(0 <= off <= 255 for off in offsets):
            raise ValueError(f"BPF jump out of range at instruction {i}: {offsets}")
        out += SOCK_FILTER.pack(op, offsets[0], offsets[1], k)
    return bytes(out)


def build_program(machine: str) -> bytes:
    """The filter for `machine` (a platform.machine() value) as sock_filter bytes; KeyError if unknown."""
    audit, table, deny_x32 = ARCHES[machine]
    code: list = [(LD_ABS_W, OFF_ARCH, 0, 0), (JEQ_K, audit, 0, "kill"), (LD_ABS_W, OFF_NR, 0, 0)]
    if deny_x32:
        code.append((JSET_K, X32_SYSCALL_BIT, "eperm", 0))
    code += [(JEQ_K, table[name], "eperm", 0) for name in DENIED if name in table]
    code += [
        (JEQ_K, table["clone3"], "enosys", 0),
        (JEQ_K, table["clone"], "clone", 0),
        (JEQ_K, table["personality"], "personality", 0),
        (RET_K, SECCOMP_RET_ALLOW, 0, 0),
        "clone",
        (LD_ABS_W, OFF_ARG0_LOW, 0, 0),
        (JSET_K, CLONE_NAMESPACES, "eperm", "allow"),
        "personality",
        (LD_ABS_W, OFF_ARG0_LOW, 0, 0),
        (JEQ_K, PERSONALITY_QUERY, "allow", 0),
        (JEQ_K, PER_LINUX, "allow", "eperm"),
        "eperm",
        (RET_K, SECCOMP_RET_ERRNO | errno.EPERM, 0, 0),
        "enosys",
        (RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS, 0, 0),
        "allow",
        (RET_K, SECCOMP_RET_ALLOW, 0, 0),
        "kill",
        (RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0),
    ]
    return _assemble(code)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter() -> tuple[bool, str]:
    """Install the filter on this process (all its threads) and so on every child it forks later.
    Returns (True, "") or (False, why); never raises. Needs no_new_privs set first (or CAP_SYS_ADMIN)."""
    try:
        return _install()
    except Exception as exc:  # a report, never a crash: the caller records what could not be done
        return False, f"seccomp filter not installed: {type(exc).__name__}: {exc}"


def _install() -> tuple[bool, str]:
    machine = platform.machine().lower()
    if machine not in ARCHES:
        return False, f"seccomp filter not installed: no syscall table for architecture {machine!r}"
    if struct.calcsize("P") != 8 or sys.byteorder != "little":
        # a 32-bit or big-endian Python would make syscalls under another audit arch: all of them killed
        return False, f"seccomp filter not installed: needs a 64-bit little-endian Python on {machine}"
    program = build_program(machine)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // SOCK_FILTER.size, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    ctypes.set_errno(0)
    # seccomp(2) with TSYNC puts every thread under the filter; prctl only the calling one (old kernels)
    nr = ARCHES[machine][1]["seccomp"]
    args = (ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC))
    rc = libc.syscall(ctypes.c_long(nr), *args, ctypes.byref(prog))
    err = ctypes.get_errno() if rc == -1 else 0
    if err == errno.ENOSYS:
        ctypes.set_errno(0)
        rc = libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0)
        err = ctypes.get_errno() if rc == -1 else 0
    if rc == 0:
        return True, ""
    if rc > 0:
        return False, f"seccomp filter not installed: thread {rc} could not be synchronised"
    why = {
        errno.EACCES: "no_new_privs is not set and the process lacks CAP_SYS_ADMIN",
        errno.EINVAL: "the kernel refused the filter (no seccomp filter support, or a malformed program)",
        errno.ENOSYS: "this kernel has no seccomp support",
    }.get(err, os.strerror(err))
    return False, f"seccomp filter not installed: {why}"
