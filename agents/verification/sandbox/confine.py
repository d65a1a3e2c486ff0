"""What a forked child does to itself before it runs anything it was given.

Resource limits, no core dumps, not dumpable (so no sibling can read its memory or descriptors
through /proc), no_new_privs, a Landlock domain (read-only system directories, its own scratch
directory writable, no TCP, no signals or abstract sockets outside the domain) where the kernel
has Landlock, and the seccomp filter the worker compiled with libseccomp. Order matters: the
seccomp filter comes last, so nothing here needs a system call it forbids.

Standard library only: this module runs inside the jail under the system Python.
"""

from __future__ import annotations

import ctypes
import os
import resource
import struct

PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 4, 38, 22, 2
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # x86_64 and aarch64 alike
RULE_PATH_BENEATH = 1
# Landlock filesystem rights by ABI version: v1 has bits 0-12, v2 adds REFER, v3 TRUNCATE, v5 IOCTL_DEV
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FS_READ = 1 | 4 | 8  # EXECUTE, READ_FILE, READ_DIR
NET_TCP = 1 | 2  # BIND_TCP, CONNECT_TCP (ABI 4+)
SCOPE_ALL = 1 | 2  # ABSTRACT_UNIX_SOCKET, SIGNAL (ABI 6+)
READABLE = ("/usr", "/lib", "/lib64", "/bin", "/dev")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfineError(Exception):
    """The child could not confine itself; it must not run anything."""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or it is disabled)."""
    abi = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, int(abi))


def _prctl(option: int, arg: int | ctypes.c_void_p = 0) -> None:
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise ConfineError(f"prctl({option}) failed: {os.strerror(ctypes.get_errno())}")


def set_limits(limits: dict[str, int]) -> None:
    """Soft and hard limits alike, except CPU time: its hard limit is a second above the soft one,
    so reaching it raises SIGXCPU (a verdict of "the CPU-time limit") rather than the SIGKILL a
    hard limit sends, which would read as a kill from elsewhere."""
    mb = 1024 * 1024
    cpu = limits["cpu_s"]
    for res, soft, hard in ((resource.RLIMIT_AS, limits["memory_mb"] * mb, None), (resource.RLIMIT_CPU, cpu, cpu + 1),
                            (resource.RLIMIT_FSIZE, limits["file_mb"] * mb, None),
                            (resource.RLIMIT_NOFILE, limits["open_files"], None),
                            (resource.RLIMIT_NPROC, limits["processes"], None), (resource.RLIMIT_CORE, 0, None)):
        resource.setrlimit(res, (soft, soft if hard is None else hard))


def landlock_ruleset(abi: int, scratch: str) -> int:
    """A ruleset fd (made once per scratch slot, in the zygote): system directories read-only, the
    scratch directory writable, no TCP, no signals or abstract sockets outside; -1 without Landlock."""
    if abi <= 0:
        return -1
    fs = FS_RIGHTS_BY_ABI.get(abi, FS_RIGHTS_BY_ABI[5])
    if abi >= 6:
        attr = struct.pack("=QQQ", fs, NET_TCP, SCOPE_ALL)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs, NET_TCP)
    else:
        attr = struct.pack("=Q", fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = int(_libc.syscall(SYS_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise ConfineError(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    for path, rights in [(p, FS_READ) for p in READABLE] + [(scratch, fs)]:
        if os.path.isdir(path):
            _add_path_rule(ruleset, path, rights & fs)
    return ruleset


def prepare_parent() -> None:
    """In the zygote, once: not dumpable and no_new_privs, both inherited by every child it forks
    (and no_new_privs irrevocable), so no child spends two prctl calls of its own on them."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def apply_landlock(ruleset: int) -> None:
    """Needs no_new_privs, set by :func:`prepare_parent` in the process it was forked from."""
    if ruleset < 0:
        return
    if _libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
        raise ConfineError(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    os.close(ruleset)


def _add_path_rule(ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        attr = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr is packed
        buf = ctypes.create_string_buffer(attr, len(attr))
        if _libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), buf,
                         ctypes.c_uint32(0)) != 0:
            raise ConfineError(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


class Seccomp:
    """The worker's BPF program, made ready for prctl once, in the zygote."""

    def __init__(self, bpf: bytes) -> None:
        if len(bpf) % 8:
            raise ConfineError("the seccomp program is not a whole number of BPF instructions")
        self.buf = ctypes.create_string_buffer(bpf, max(1, len(bpf)))
        self.prog = _SockFprog(len(bpf) // 8, ctypes.cast(self.buf, ctypes.c_void_p))
        self.enabled = bool(bpf)

    def apply(self) -> None:
        """Needs no_new_privs (see :func:`prepare_parent`)."""
        if not self.enabled:
            return
        if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.prog), 0, 0) != 0:
            raise ConfineError(f"seccomp filter refused: {os.strerror(ctypes.get_errno())}")


def confine(limits: dict[str, int], scratch: str, ruleset: int, seccomp: Seccomp) -> None:
    """Everything above, in order, in a child of a process that ran :func:`prepare_parent`;
    raises ConfineError (the caller exits without running code)."""
    os.chdir(scratch)
    try:
        set_limits(limits)
    except (OSError, ValueError) as exc:
        raise ConfineError(f"setrlimit: {exc}") from exc
    apply_landlock(ruleset)
    seccomp.apply()
