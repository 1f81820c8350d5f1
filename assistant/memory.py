"""Peak resident memory of a process, as the bench reports it.

Read from /proc (VmHWM), not getrusage: on Linux a child's ru_maxrss starts from its parent's
peak and survives exec, so a small process started by a large one would report the large one.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def peak_rss_mb(pid: int | None = None) -> float | None:
    """The high-water mark of a process's resident memory in MB (this one by default)."""
    try:
        status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    if pid is None:  # no /proc (not Linux): the best this process can say about itself
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return None
