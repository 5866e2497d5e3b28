"""bedside: a Raspberry Pi bedside sleep-sound appliance."""

import os

# numpy's wheels bring OpenBLAS, which starts a thread per core and keeps it spinning a while after
# every matrix product, however small. Each synthesis block has one (a few microseconds of work),
# so the spinning cost more CPU than the product itself: `bedside render brown` spent about a fifth
# of its time in it here, and on a Pi the spinning threads take the cores the sound needs. Set
# before anything imports numpy (every entry point imports this package first).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
