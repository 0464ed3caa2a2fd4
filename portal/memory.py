"""Give large blocks back to the system when they are freed.

Argon2id takes 19 MiB of working memory per hash. glibc's malloc hands blocks that large out with
`mmap` and returns them on `free`, but after the first such `free` it raises its threshold so that the
next ones come from the heap, which keeps them: each web worker grew by about 19 MiB at its first login
and never shrank. Fixing the threshold (as `MALLOC_MMAP_THRESHOLD_` would) keeps the first behaviour.
"""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
THRESHOLD = 128 * 1024  # glibc's default, made fixed


def return_large_blocks():
    """Returns True when the C library took the setting (glibc); elsewhere nothing changes."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False
