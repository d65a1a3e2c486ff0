"""How the zygote is started: inside bubblewrap, as an unprivileged user, with nothing of ours.

bwrap gives the jail new user, network, pid, ipc, uts and cgroup namespaces, ``--die-with-parent``
and ``--new-session``, a cleared environment, read-only system directories, a size-capped tmpfs
as the only writable place, and nothing of the project, the home directory or the host's /tmp.
The zygote's code goes in on the command line (``-c``), so no file of the project is visible.
Run as root, the jail is started as ``nobody``. Without bubblewrap the zygote runs directly
(still confined by rlimits, seccomp and Landlock in every child), and only when the user set the
setting whose name says it is unsafe.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PYTHON = "/usr/bin/python3"  # the system interpreter: nothing of the project's virtualenv is needed
RO_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives")
RUNTIME = ("wire", "confine", "roles", "zygote")  # in dependency order
NOBODY = 65534
UNSAFE_ENV = "SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX"
JAIL_ENV = {"PATH": "/usr/bin:/bin"}  # bwrap stays pid 1 in the jail and /proc/1/environ shows this


def bootstrap() -> str:
    """A ``python -c`` program that loads the runtime modules from their text and starts the zygote."""
    here = Path(__file__).resolve().parent
    sources = {name: (here / f"{name}.py").read_text() for name in RUNTIME}
    return (
        "import sys, types\n"
        f"SOURCES = {sources!r}\n"
        f"for name in {list(RUNTIME)!r}:\n"
        "    module = types.ModuleType(name)\n"
        "    module.__file__ = f'/sandbox/{name}.py'\n"
        "    sys.modules[name] = module\n"
        "    exec(compile(SOURCES[name], module.__file__, 'exec'), module.__dict__)\n"
        "del SOURCES\n"
        "sys.modules['zygote'].main()\n"
    )


def problem() -> str | None:
    """Why no jail can be made here, or None when bwrap and the system Python are present."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed; install the Debian package bubblewrap"
    if not os.path.exists(PYTHON):
        return f"{PYTHON} is missing; the jail runs the system Python"
    return None


def argv(tmpfs_mb: int, jailed: bool = True) -> list[str]:
    run = [PYTHON, "-I", "-S", "-c", bootstrap()]
    if not jailed:
        return run
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp"]
    for d in RO_DIRS:
        if os.path.exists(d):
            cmd += ["--ro-bind", d, d]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp",
            "--chdir", "/tmp"]
    return cmd + run


def drop_privileges() -> None:
    """In the launched process before exec: as root, become nobody (bwrap then maps nobody)."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
