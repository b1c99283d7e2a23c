"""Children that die with their launcher, even when the launcher is SIGKILLed (and so runs no clean-up).

Ctrl-C and SIGTERM reach the launcher, which stops every process group it started (`ProcessGroup.close`);
SIGKILL gives it no chance. On Linux each child asks the kernel, first thing at start-up, for SIGKILL when
its parent dies (`prctl(PR_SET_PDEATHSIG)`), then checks that its parent is still the launcher that started
it (it may have died before the request). It is asked in the child at start-up, not in a `preexec_fn`
between fork and exec, which is unsafe in a process with threads. The kernel sends the signal when the
*thread* that forked the child exits: the launcher starts its children from its main thread (its task
groups run there), which lives as long as the launcher. Other platforms have no such call: there a
SIGKILLed launcher leaves its children running (docs/runtime.md, limits).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

#: The launcher's pid, in the environment of each child it starts.
LAUNCHER_PID = "COSIGNER_HA_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def child_environment() -> dict[str, str]:
    """The environment of a child that must die with this process."""
    return {**os.environ, LAUNCHER_PID: str(os.getpid())}


def die_with_launcher() -> None:
    """In a child a launcher started (its pid in the environment): SIGKILL when the launcher dies, and
    at once if it already has. The variable is removed so this process's own children do not inherit it."""
    launcher = os.environ.pop(LAUNCHER_PID, None)
    if launcher is None or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    if str(os.getppid()) != launcher:  # the launcher died before the request: nobody to stop us later
        os.kill(os.getpid(), signal.SIGKILL)
