"""The seccomp deny-list on the real kernel, each check in its own `python -c` process (a filter cannot be
removed once installed), plus the program's logic for both architectures through a small classic-BPF
interpreter and the hand-written syscall tables against the installed kernel headers."""

from __future__ import annotations

import errno
import json
import platform
import re
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unitrl.sandbox import seccomp

MACHINE = platform.machine().lower()
NATIVE = MACHINE in seccomp.ARCHES and struct.calcsize("P") == 8 and sys.byteorder == "little"
native = pytest.mark.skipif(not NATIVE, reason=f"no seccomp table for {MACHINE}")
on_x86_64 = pytest.mark.skipif(MACHINE not in ("x86_64", "amd64"), reason="x86_64 only")

PRELUDE = r"""
import ctypes, errno, json, os, sys
from unitrl.sandbox import seccomp
from unitrl.sandbox.seccomp import install_filter
libc = ctypes.CDLL(None, use_errno=True)
TABLE = seccomp.ARCHES[seccomp.platform.machine().lower()][1]

def call(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), "OK") if rc == -1 else rc

def install():
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, as the zygote does before calling us
    ok, why = install_filter()
    if not ok:
        sys.exit("INSTALL FAILED: " + why)
"""


def run(body: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """A fresh interpreter in its own session (no controlling terminal: vhangup is harmless there)."""
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@native
def test_every_denied_syscall_gets_eperm_and_only_under_the_filter():
    # the same calls before and after installing: invalid arguments everywhere (bad pointers, fds,
    # flags), so unfiltered they fail harmlessly and with another errno; the IPC creators ask for a key
    # without IPC_CREAT (ENOENT), so no object is ever created
    proc = run("""
        IPC = {"shmget", "msgget", "semget"}
        def probe():
            out = {n: call(TABLE[n], *((-1, 0, 0) if n in IPC else (-1,) * 6))
                   for n in seccomp.DENIED if n in TABLE}
            out["clone3"] = call(TABLE["clone3"], -1, -1)
            if "x86" in seccomp.platform.machine():
                out["x32 getpid"] = call(0x40000000 | 39)
            return out
        before = probe()
        status = open("/proc/self/status").read()
        plain_root = os.geteuid() == 0 and "Seccomp:\t0" in status
        install()
        print(json.dumps({"before": before, "after": probe(), "plain_root": plain_root}))
    """)
    out = last_json(proc)
    expected = {name: "EPERM" for name in out["after"]} | {"clone3": "ENOSYS"}
    assert out["after"] == expected
    assert len(out["after"]) >= len(seccomp.DENIED) - 2  # iopl, ioperm only on x86_64
    # the errnos come from the filter: unfiltered, the calls failed some other way. As root outside any
    # other seccomp filter that is (nearly) every call; without privileges or under an outer filter (a
    # container's) some already give EPERM, but not those that check their arguments first
    changed = [name for name in out["after"] if out["before"][name] != out["after"][name]]
    assert len(changed) >= (0.8 * len(out["after"]) if out["plain_root"] else 3), out["before"]


@native
def test_namespaces_cannot_be_entered_and_personality_only_queried():
    proc = run("""
        import signal
        NS = {"NEWNS": 0x20000, "NEWUTS": 0x4000000, "NEWIPC": 0x8000000, "NEWUSER": 0x10000000,
              "NEWPID": 0x20000000, "NEWNET": 0x40000000, "NEWCGROUP": 0x2000000}
        install()
        def raw_fork(flags):
            # clone with a NULL stack is fork; a child that was wrongly allowed leaves at once
            pid = call(TABLE["clone"], flags | int(signal.SIGCHLD), 0, 0, 0, 0)
            if pid == 0:
                os._exit(7)
            if isinstance(pid, int):
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            return pid
        ctypes.set_errno(0)
        rc = libc.unshare(NS["NEWUSER"])
        print(json.dumps({
            "unshare": [rc, errno.errorcode.get(ctypes.get_errno())],
            "clone_ns": {name: raw_fork(flag) for name, flag in NS.items()},
            "clone_plain": raw_fork(0),
            "personality": [call(TABLE["personality"], a) for a in (0xFFFFFFFF, 0, 0x0040000, 0x1)],
        }))
    """)
    out = last_json(proc)
    assert out["unshare"] == [-1, "EPERM"]
    assert out["clone_ns"] == {name: "EPERM" for name in out["clone_ns"]}
    assert out["clone_plain"] == 7  # the same clone without a namespace flag still forks
    query, per_linux, no_randomize, other = out["personality"]
    assert isinstance(query, int) and per_linux != "EPERM"
    assert no_randomize == "EPERM" and other == "EPERM"


@native
def test_ordinary_work_still_runs_under_the_filter(tmp_path):
    proc = run(
        """
        import mmap, multiprocessing, socket, subprocess, threading
        install()
        out = {}
        pid = os.fork()  # the child inherits the filter: its ptrace must fail too
        if pid == 0:
            os._exit(0 if call(TABLE["ptrace"], -1, -1, 0, 0) == "EPERM" else 1)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(sum(range(i * 1000))))
                   for i in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        out["threads"] = len(results)
        out["true"] = subprocess.run(["/bin/true"]).returncode
        a, b = socket.socketpair()
        a.sendall(b"ping")
        out["socketpair"] = b.recv(4).decode()
        m = mmap.mmap(-1, 1 << 20)
        m[:5] = b"hello"
        out["mmap"] = m[:5].decode()
        with open("data.bin", "wb") as f:
            f.write(b"x" * 100000)
        with open("data.bin", "rb") as f:
            out["file"] = len(f.read())
        try:
            import numpy
            x = numpy.arange(40000, dtype=float).reshape(200, 200)
            out["numpy"] = float((x @ x.T).trace())
            out["numpy_expected"] = float((x * x).sum())
        except ImportError:
            pass
        with multiprocessing.Pool(2) as pool:
            out["pool"] = pool.starmap(pow, [(i, 2) for i in range(10)])
        print(json.dumps(out))
        """,
        cwd=tmp_path,
    )
    out = last_json(proc)
    assert out["fork"] == 0 and out["threads"] == 8 and out["true"] == 0
    assert out["socketpair"] == "ping" and out["mmap"] == "hello" and out["file"] == 100000
    assert out["pool"] == [i * i for i in range(10)]
    if "numpy" in out:
        assert out["numpy"] == pytest.approx(out["numpy_expected"])


@on_x86_64
def test_another_abi_kills_the_process():
    # i386 getpid through `int 0x80` from a 64-bit process: audit arch I386, which the filter kills
    body = """
        import mmap
        code = b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3"  # mov eax, 20; int 0x80; ret
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(code)
        fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
        {install}
        print(fn() == os.getpid())
    """
    control = run(body.format(install=""))
    if control.returncode != 0 or control.stdout.strip() != "True":
        pytest.skip(f"no i386 syscalls here even unfiltered (rc {control.returncode})")
    proc = run(body.format(install="install()"))
    assert proc.returncode == -signal.SIGSYS, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == ""


@native
def test_getpid_cost_with_and_without_the_filter(capsys):
    proc = run("""
        import time
        def best_of(n=7):
            best = float("inf")
            for _ in range(n):
                start = time.perf_counter()
                for _ in range(20000):
                    os.getpid()
                best = min(best, time.perf_counter() - start)
            return best
        before = best_of()
        install()
        print(json.dumps({"before": before, "after": best_of()}))
    """)
    out = last_json(proc)
    with capsys.disabled():
        before, after = out["before"] * 1e3, out["after"] * 1e3
        print(f"\n20,000 getpid(): {before:.2f} ms unfiltered, {after:.2f} ms filtered")
    # a deny-list of ~70 BPF instructions; the kernel's action cache usually skips it for getpid
    assert out["after"] - out["before"] < 20000 * 1e-6


def test_install_reports_instead_of_raising():
    # without no_new_privs and without CAP_SYS_ADMIN the kernel says EACCES: a reason, no exception.
    # As root, CAP_SYS_ADMIN leaves the bounding set before exec, so the interpreter never holds it.
    import ctypes

    def drop_sys_admin() -> None:
        ctypes.CDLL(None).prctl(24, 21, 0, 0, 0)  # PR_CAPBSET_DROP, CAP_SYS_ADMIN

    code = (
        "from unitrl.sandbox.seccomp import install_filter; "
        "print('NoNewPrivs:\\t1' in open('/proc/self/status').read(), repr(install_filter()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=drop_sys_admin
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    if proc.stdout.startswith("True"):
        pytest.skip("no_new_privs is already set on this test run: the kernel accepts any filter")
    if NATIVE:
        assert proc.stdout.startswith("False (False, ") and "no_new_privs" in proc.stdout, proc.stdout


def test_unknown_architecture_is_refused(monkeypatch):
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "riscv64")
    ok, why = seccomp.install_filter()
    assert not ok and "riscv64" in why


def run_bpf(program: bytes, nr: int, arch: int, arg0: int = 0) -> int:
    """A classic-BPF interpreter for the four instructions the filter uses, over a seccomp_data."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [seccomp.SOCK_FILTER.unpack_from(program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]  # an IndexError here is a jump past the end
        if code == seccomp.LD_ABS_W:
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
        elif code in (seccomp.JEQ_K, seccomp.JSET_K):
            hit = acc == k if code == seccomp.JEQ_K else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        else:
            assert code == seccomp.RET_K
            return k


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_program_logic_for_each_architecture(machine):
    audit, table, x32 = seccomp.ARCHES[machine]
    program = seccomp.build_program(machine)
    eperm = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
    allow = seccomp.SECCOMP_RET_ALLOW
    for name in seccomp.DENIED:
        if name in table:
            assert run_bpf(program, table[name], audit) == eperm, name
    assert run_bpf(program, table["clone3"], audit) == seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    denied_numbers = {table[n] for n in seccomp.DENIED if n in table} | {table["clone3"]}
    for nr in set(range(600)) - denied_numbers - {table["clone"], table["personality"]}:
        assert run_bpf(program, nr, audit, arg0=0x10000000) == allow, nr
    clone, fork_flags = table["clone"], 0x01200011  # glibc fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    assert run_bpf(program, clone, audit, fork_flags) == allow
    assert run_bpf(program, clone, audit, 0x003D0F00) == allow  # pthread_create's flags
    for flag in (0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x2000000):
        assert run_bpf(program, clone, audit, fork_flags | flag) == eperm, hex(flag)
        assert run_bpf(program, clone, audit, (1 << 32) | flag) == eperm  # only the low 32 bits count
    persona = table["personality"]
    verdicts = [run_bpf(program, persona, audit, a) for a in (0xFFFFFFFF, 0, 0x40000, 8)]
    assert verdicts == [allow, allow, eperm, eperm]
    for other in (0x40000003, 0xC000003E if machine == "aarch64" else 0xC00000B7, 0):  # i386, the other
        assert run_bpf(program, table["clone"], other) == seccomp.SECCOMP_RET_KILL_PROCESS
    getpid = 39 if machine == "x86_64" else 172
    assert run_bpf(program, getpid | 0x40000000, audit) == (eperm if x32 else allow)


HEADERS = {
    "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"],
    "aarch64": ["/usr/include/asm-generic/unistd.h"],
}


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_tables_match_the_kernel_headers(machine):
    table = seccomp.ARCHES[machine][1]
    wanted = set(seccomp.DENIED) - ({"iopl", "ioperm"} if machine == "aarch64" else set())
    assert wanted | {"clone", "clone3", "personality", "seccomp"} == set(table)
    found = [Path(p) for p in HEADERS[machine] if Path(p).exists()]
    if not found:
        pytest.skip(f"no kernel headers for {machine} (apt-get install linux-libc-dev)")
    text = found[0].read_text()
    numbers = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", text)}
    assert len(numbers) > 250
    for name, nr in table.items():
        if name in numbers:
            assert nr == numbers[name], name
        else:  # only syscalls newer than these headers may be missing from them
            assert nr > max(numbers.values()), name
