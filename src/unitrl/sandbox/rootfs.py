"""The worker's kernel-level set-up: namespaces, the sandbox's root filesystem, and wiping what a program
left behind.

`enter_namespaces` unshares what the kernel allows (user when not root, network, IPC+UTS, mount, PID for
children) and builds a new root: read-only binds of the system and Python directories (wherever they live,
/tmp included: each is opened before anything is mounted over it), a synthetic /etc (no host user list,
hosts or resolver configuration), a few /dev nodes, and a private tmpfs /tmp; then pivot_root, so that
nothing of the host's tree stays reachable. `reset_tmp` gives the next program an empty /tmp: a no-op when
the last program left nothing, else a fresh tmpfs mounted over the old one (no walk of what the program
built, so no depth or count limits). `wipe_tree` does the same job without a mount namespace, iteratively
and relative to directory fds (a tree thousands of levels deep is no problem). `lock_sysv` switches off
SysV IPC in the worker's IPC namespace; `clear_sysv` removes any segment, semaphore set or queue that
exists (used where the lock is not available). Standard library and ctypes only.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
O_PATH = getattr(os, "O_PATH", 0o10000000)

_libc = ctypes.CDLL(None, use_errno=True)

ETC_FILES = {
    "passwd": "root:x:0:0:root:/tmp:/bin/false\nsandbox:x:1000:1000:sandbox:/tmp:/bin/false\n",
    "group": "root:x:0:\nsandbox:x:1000:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "hostname": "sandbox\n",
}
ETC_BINDS = ("ld.so.cache", "ld.so.conf", "localtime")  # what the loader and time functions read


def _unshare(flags: int) -> bool:
    return _libc.unshare(flags) == 0


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if (
        _libc.mount(
            src.encode() if src else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        != 0
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def umount(target: str) -> None:
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def python_paths(extra: list[str]) -> list[str]:
    """Directories the interpreter and its packages live in: prefixes plus package dirs on sys.path."""
    paths = [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)]
    for entry in list(sys.path) + list(extra):
        if not entry or not os.path.exists(entry):
            continue
        real = os.path.realpath(entry)
        base = os.path.basename(real)
        if base in ("site-packages", "dist-packages") or real.endswith((".zip", ".egg", ".whl")):
            paths.append(real)
    return list(dict.fromkeys(paths))


def enter_namespaces(cfg: dict) -> dict:
    """Enter what the kernel allows; returns the active layers.

    The PID namespace is unshared for children only: the next process this one forks (the zygote) is its
    PID 1, and this process stays outside it, able to see and signal the zygote.
    """
    layers = {"user": False, "uid": False, "network": False, "mount": False, "pid": False, "ipc": False}
    root = os.geteuid() == 0
    if cfg["isolation"] == "none":
        layers["uid"] = root  # even without namespaces, never run a program as root
        return layers
    uid, gid = os.getuid(), os.getgid()
    if not root:
        if _unshare(CLONE_NEWUSER):
            layers["user"] = True
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
    layers["network"] = _unshare(CLONE_NEWNET)
    layers["ipc"] = _unshare(CLONE_NEWIPC | CLONE_NEWUTS)
    layers["mount"] = _unshare(CLONE_NEWNS)
    layers["pid"] = _unshare(CLONE_NEWPID)
    if layers["ipc"]:
        _libc.sethostname(b"sandbox", 7)
    if layers["mount"]:
        try:
            layers["new_root"] = build_root(cfg, with_proc=layers["pid"])
        except OSError as exc:
            layers["mount"] = False
            layers["mount_error"] = str(exc)
    layers["uid"] = root and not layers["user"]  # real root can hand children a spare uid
    return layers


def build_root(cfg: dict, with_proc: bool) -> str:
    """A new root on a private tmpfs; returns its path (`enter_root` moves into it).

    Every read-only path is opened (O_PATH) BEFORE the staging tmpfs is mounted, and bound from its fd:
    a Python installation under /tmp stays visible although /tmp is then covered. /proc is only created
    here: the zygote mounts it once it is PID 1 of the new PID namespace, before `enter_root` detaches
    the old root (in a user namespace the kernel only lets a new proc be mounted while a full one is
    still visible in the mount namespace)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    ro = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]
    ro += python_paths(cfg.get("python_paths", []))
    ro += cfg.get("ro_paths", [])
    handles: list[tuple[str, int | None, str | None]] = []  # (path, O_PATH fd or None, symlink target)
    for path in dict.fromkeys(ro):
        if not os.path.lexists(path):
            continue
        if os.path.islink(path) and os.path.dirname(path) == "/":
            handles.append((path, None, os.readlink(path)))
        else:
            handles.append((path, os.open(path, O_PATH | os.O_CLOEXEC), None))
    etc = {n: os.open("/etc/" + n, O_PATH | os.O_CLOEXEC) for n in ETC_BINDS if os.path.exists("/etc/" + n)}
    staging = "/tmp"
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    new = staging + "/root"
    os.mkdir(new, 0o755)
    mount(new, new, None, MS_BIND)  # pivot_root needs the new root to be a mount point
    bound: list[str] = []
    relocated: dict[str, str] = {}
    for path, fd, link in sorted(handles, key=lambda h: h[0].count("/")):
        target = new + path
        if fd is not None and any(path.startswith(b + "/") for b in bound):
            os.close(fd)  # already visible through an ancestor's recursive bind (and relocated with it)
            continue
        if fd is not None and (path == "/tmp" or path.startswith("/tmp/")):
            # /tmp is the programs' own tmpfs (reset between programs): bind elsewhere, and the worker
            # rewrites its sys.path to match (see `relocate_sys_path`)
            relocated[path] = f"/.python/{len(relocated)}"
            target = new + relocated[path]
        if link is not None:
            if not os.path.lexists(target):
                os.symlink(link, target)
            continue
        if os.path.lexists(target) and os.path.ismount(target):
            os.close(fd)  # type: ignore[arg-type]
            continue
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REC)
        os.close(fd)  # type: ignore[arg-type]
        bound.append(path)
    _synthetic_etc(new, etc)
    os.makedirs(new + "/dev", exist_ok=True)
    for dev in ("null", "zero", "urandom", "random"):
        open(new + "/dev/" + dev, "w").close()
        mount("/dev/" + dev, new + "/dev/" + dev, None, MS_BIND)
    os.makedirs(new + "/tmp", exist_ok=True)
    mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
    if with_proc:
        os.makedirs(new + "/proc", exist_ok=True)
    os.makedirs(new + "/.old", exist_ok=True)
    cfg["relocated"] = relocated
    return new


def relocate_sys_path(relocated: dict[str, str]) -> None:
    """Point sys.path entries at where their directories are bound inside the new root."""
    for i, entry in enumerate(sys.path):
        real = os.path.realpath(entry) if entry else entry
        for old, new in relocated.items():
            if real == old or real.startswith(old + "/"):
                sys.path[i] = new + real[len(old) :]


def enter_root(new: str) -> None:
    """pivot_root into `new`, detach the old root (nothing of the host's tree stays reachable), and make
    the new root read-only. Every process of the mount namespace whose root was the old one moves too."""
    os.chdir(new)
    if _libc.syscall(155 if _x86_64() else 41, b".", b".old") != 0:  # pivot_root(2)
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    os.chdir("/")
    umount("/.old")
    os.rmdir("/.old")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _x86_64() -> bool:
    return os.uname().machine in ("x86_64", "amd64")


def _synthetic_etc(new: str, binds: dict[str, int]) -> None:
    """/etc with only what programs and the loader need; none of the host's users, hosts or resolver."""
    etc = new + "/etc"
    os.makedirs(etc, exist_ok=True)
    for name, text in ETC_FILES.items():
        with open(f"{etc}/{name}", "w") as fh:
            fh.write(text)
    for name, fd in binds.items():
        open(f"{etc}/{name}", "a").close()
        try:
            mount(f"/proc/self/fd/{fd}", f"{etc}/{name}", None, MS_BIND)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------- between programs


def tmp_is_clean(workdir: str, owner: int | None) -> bool:
    """True when /tmp holds only the empty work dir, owned and moded as we left it (the common case)."""
    try:
        if os.listdir("/tmp") != [os.path.basename(workdir)] or os.listdir(workdir):
            return False
        st = os.lstat(workdir)
    except OSError:
        return False
    mode_ok = stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    return mode_ok and (owner is None or st.st_uid == owner)


def reset_tmp(tmp_mb: int) -> None:
    """A fresh, empty tmpfs on /tmp; the old one (whatever a program built in it) goes when detached."""
    umount("/tmp")
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")


def wipe_tree(path: str) -> None:
    """Empty the directory `path` (create it if missing; replace it if a program put a file there).

    Iterative and relative to directory fds: each subdirectory is emptied by moving its entries up into
    the top directory, so neither recursion depth nor path length nor open fds grow with the tree's depth.
    Modes a program set (000 directories) are reset first."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
            raise FileNotFoundError
    except FileNotFoundError:
        os.mkdir(path, 0o700)
        return
    os.chmod(path, 0o700)
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        serial = 0
        while True:
            names = os.listdir(top)
            if not names:
                return
            for name in names:
                try:
                    st = os.lstat(name, dir_fd=top)
                    if not stat.S_ISDIR(st.st_mode):
                        os.unlink(name, dir_fd=top)
                        continue
                    os.chmod(name, 0o700, dir_fd=top, follow_symlinks=False)
                    try:
                        os.rmdir(name, dir_fd=top)
                        continue
                    except OSError:
                        pass
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                    try:
                        for child_name in os.listdir(sub):
                            serial += 1
                            os.rename(child_name, f".w{serial}", src_dir_fd=sub, dst_dir_fd=top)
                    finally:
                        os.close(sub)
                    os.rmdir(name, dir_fd=top)
                except FileNotFoundError:
                    continue
    finally:
        os.close(top)


# ------------------------------------------------------------------------------------- SysV IPC

IPC_RMID = 0
SYSV = (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl"))


def lock_sysv(proc: str = "/proc") -> bool:
    """Allow no SysV shared memory, semaphores or message queues in this IPC namespace (the limits are
    per namespace and writable by its owner); True when all three are off."""
    settings = {"shmall": "0", "shmmni": "0", "msgmni": "0", "sem": "0 0 0 0"}
    ok = True
    for name, value in settings.items():
        try:
            with open(f"{proc}/sys/kernel/{name}", "w") as fh:
                fh.write(value)
        except OSError:
            ok = False
    return ok


def clear_sysv() -> int:
    """Remove every SysV object in this IPC namespace (as listed in /proc/sysvipc); returns how many."""
    removed = 0
    for kind, ctl in SYSV:
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 2:
                continue
            ident = int(fields[1])
            if getattr(_libc, ctl)(ident, IPC_RMID, 0, 0) == 0:
                removed += 1
    return removed
