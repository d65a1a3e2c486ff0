"""The seccomp policy for candidate and judge processes, compiled to BPF with libseccomp.

Compiled once in the worker (pyseccomp, a ctypes binding of libseccomp) and sent to the zygote as
bytes, so nothing inside the jail needs libseccomp's Python binding. Default allow, then deny what
a test program never needs and an escape or an attack on a neighbour does: new processes and
programs (threads stay allowed), signals to other processes, tracing and other processes' memory,
sockets other than AF_UNIX, namespaces and mounts, raising limits, kernel interfaces (BPF, perf,
keys, io_uring, modules). Denied calls fail with EPERM, so Python raises a PermissionError.
"""

from __future__ import annotations

import errno
import socket
import tempfile

CLONE_THREAD = 0x00010000
DENIED = (
    "fork", "vfork", "execve", "execveat",
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "process_madvise",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    "setrlimit", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "mknod", "mknodat",
    "syslog", "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm", "personality", "settimeofday",
    "clock_settime", "adjtimex", "sethostname", "setdomainname",
)


def compile_bpf() -> bytes:
    """The filter as raw BPF for prctl(PR_SET_SECCOMP); raises ImportError/OSError without libseccomp."""
    import pyseccomp as sc

    f = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in DENIED:
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            continue  # a call this architecture does not have
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone, which is checked below
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    f.add_rule(sc.ERRNO(errno.EPERM), "socketpair", sc.Arg(0, sc.NE, socket.AF_UNIX))
    f.add_rule(sc.ERRNO(errno.EPERM), "prlimit64", sc.Arg(2, sc.NE, 0))  # reading limits stays allowed
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()
