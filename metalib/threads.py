"""CPU threads that wait without spinning, so that a busy machine slows a notebook in proportion.

PyTorch's CPU kernels run on an OpenMP thread pool (GNU libgomp in the pip wheels). Between two
parallel regions its threads *spin*: they keep their cores busy, waiting for the next piece of
work. On an idle machine that saves a few microseconds per kernel; beside any other busy process
(a browser, a second kernel, a test) the spinning threads and the busy process take turns on the
cores, and the one thread that holds the real work waits for the scheduler. Chapter 1 on 2 cores
beside one busy Python loop took more than 400 s instead of 51 s (user time 400 s, nearly all of
it spinning). With ``OMP_WAIT_POLICY=PASSIVE`` the threads sleep as soon as they have no work:
the same run took 51 s beside the busy process, and 37 s on the idle machine (the spinning had
also been taking cycles from the notebook's own Python thread).

libgomp reads the policy once, when PyTorch is first imported, so it must be in the environment
before ``import torch``. :func:`wait_passively` (called by ``import metalib``, first thing) sets
it unless the environment already says otherwise; that is why the notebooks import ``metalib``
before ``torch``. ``OMP_NUM_THREADS`` sets the number of threads as usual; the test command uses
one thread per kernel (``tools/test.sh``).
"""
from __future__ import annotations

import os
import sys
import warnings

POLICY = "OMP_WAIT_POLICY"


def wait_passively() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process unless it is set; True when it is in force.

    Warns (and changes nothing) when PyTorch was imported first without the variable: the thread
    pool then already spins, and only setting ``OMP_WAIT_POLICY=PASSIVE`` before starting Python,
    or importing ``metalib`` before ``torch``, changes that.
    """
    if POLICY in os.environ:
        return os.environ[POLICY].upper() == "PASSIVE"
    if "torch" in sys.modules:
        warnings.warn("torch was imported before metalib, so PyTorch's CPU threads spin while they "
                      "wait, and a busy machine can slow this run many times over: import metalib "
                      "before torch, or start Python with OMP_WAIT_POLICY=PASSIVE in the environment",
                      stacklevel=3)
        return False
    os.environ[POLICY] = "PASSIVE"
    return True
