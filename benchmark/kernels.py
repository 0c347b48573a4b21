"""The Jupyter kernels the harness and the tutorial tests start talk over IPC sockets.

Over TCP (jupyter_client's default) every kernel prints ``[IPKernelApp] WARNING | Kernel is
running over TCP without encryption ...`` into the run's log, once per cell: harmless on a machine
of one's own, and exactly the kind of warning that teaches a user to ignore warnings. IPC sockets
(files in a private temporary folder of this process, removed at exit) are local by construction,
so the kernel has nothing to warn about.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from jupyter_client.manager import AsyncKernelManager

_SOCKETS = tempfile.mkdtemp(prefix="dppmg-kernels-")
atexit.register(shutil.rmtree, _SOCKETS, ignore_errors=True)


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels use IPC transport in this process's private socket folder."""

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(_SOCKETS, "kernel"))
        super().__init__(**kwargs)
