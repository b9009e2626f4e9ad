# The settings every executed notebook runs under: in the tests (tools/test.sh), when outputs are
# regenerated (tools/regenerate.sh) and in a re-executing build (BOOK_EXECUTE=1 tools/book.sh).
# Sourced, not run. Each may be overridden from the environment, e.g. OMP_NUM_THREADS=2.
export METALIB_BUDGET=${METALIB_BUDGET:-default}   # stored outputs are for the default budget
export METALIB_DEVICE=${METALIB_DEVICE:-cpu}       # ... and for the CPU, wherever a GPU is present
# One thread per kernel: two kernels run side by side on 2 cores without oversubscribing them.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# Threads that sleep instead of spinning when idle (metalib sets it too; see metalib/threads.py).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
