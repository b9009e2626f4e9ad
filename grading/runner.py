"""What runs inside the sandbox: the submission's cells, then the probes, results out as JSON lines.

The judge starts this module in a confined process (grading.sandbox) and writes one JSON request
to its standard input: the submission's code cells, the assignment's setup cells, and per question
the probe's source and its inputs. Here:

1. every code cell runs in order in one IPython shell, as in Jupyter; a cell that raises, or runs
   past its time (its own limit, and the notebook's), is reported and the next one runs, so each question is graded on the notebook's
   final state (an answer typed into a new cell below the stub counts);
2. for each question, the setup cells run again (the teacher's network and loss, whatever the
   submission did to them), and the probe calls the submission's functions on the judge's inputs;
   what it returns is sent back as data (grading.codec), one line per question, as soon as it is
   known.

Nothing here decides a score: the judge compares the data with its own reference, in a process
that never runs submitted code.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback


class TimeLimit(BaseException):
    """Raised in the running code when its time is up (a BaseException: `except Exception` misses it)."""


def _alarm(seconds: float):
    def ring(signum, frame):
        raise TimeLimit(f"ran past {seconds:.0f} s")

    signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))


def _disarm():
    signal.setitimer(signal.ITIMER_REAL, 0)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 600 else text[:600] + " ..."


def main(channel: int) -> None:
    from grading import codec

    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    out = os.fdopen(channel, "w", buffering=1)

    def send(**message):
        out.write(json.dumps(message) + "\n")

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    shell.showtraceback = _show_short_traceback(shell)
    start = time.monotonic()
    for index, source in request["cells"]:
        left = request["time_limit"] - (time.monotonic() - start)
        if left <= 0:
            send(event="cell", index=index, error="not run: the notebook's time was used up")
            continue
        error = None
        try:
            _alarm(min(left, request["cell_time"]))
            result = shell.run_cell(source, store_history=False, silent=False)
            _disarm()
            failure = result.error_before_exec or result.error_in_exec
            if failure is not None:
                error = _short(failure)
        except TimeLimit as exc:
            error = f"stopped: {exc}"
        finally:
            _disarm()
        send(event="cell", index=index, error=error)

    namespace = shell.user_ns
    final_state = dict(namespace)
    for question in request["questions"]:
        name = question["name"]
        namespace.clear()            # each question starts from the notebook's final state, whatever
        namespace.update(final_state)   # an earlier probe put in place of an answer
        try:
            _alarm(request["probe_time"])
            for source in request["setup"]:
                exec(compile(source, "<setup>", "exec"), namespace)
            probe_globals = {"__name__": "probe", "attempt": attempt, "lines_run": lines_run,
                             "images_at": images_at}
            exec(compile(question["probe_source"], "<probe>", "exec"), probe_globals)
            value = probe_globals[question["probe_name"]](namespace, codec.decode(question["inputs"]))
            _disarm()
            send(event="question", name=name, outputs=codec.encode(value))
        except TimeLimit as exc:
            _disarm()
            send(event="question", name=name, timed_out=str(exc))
        except BaseException as exc:   # noqa: BLE001 - whatever the submission raises is reported
            _disarm()
            send(event="question", name=name, error=_short(exc))
    send(event="done")
    out.flush()


def _show_short_traceback(shell):
    original = shell.showtraceback

    def show(*args, **kwargs):
        try:
            original(*args, **kwargs)
        except Exception:   # noqa: BLE001
            traceback.print_exc()
    return show


def attempt(function, *args, **kwargs):
    """function(*args, **kwargs), or codec.Failed with the exception it raised (for probes)."""
    from grading import codec

    try:
        return function(*args, **kwargs)
    except TimeLimit:
        raise
    except Exception as exc:   # noqa: BLE001
        return codec.Failed(_short(exc))


def images_at(images, index):
    """Images [T, M, 1, H, W] in [0, 1] of a FewShotDataset's uint8 `images` at `index` [2, T, M]
    (class and example of each: what judge.held_out_tasks sends)."""
    return images[index[0], index[1]].unsqueeze(2).float() / 255


def lines_run(function, *args, **kwargs) -> int:
    """How many lines of notebook code run in function(*args, **kwargs).

    A vectorised function runs the same lines whatever the number of examples, classes or tasks; a
    Python loop over them runs more lines for more of them. Lines in library code are not counted.
    """
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        filename = frame.f_code.co_filename
        if not _is_cell(filename):
            return None
        if event == "line":
            count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        function(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return count


def _is_cell(filename: str) -> bool:
    # IPython names cell code "<ipython-input-N-...>" or a file under the kernel's temporary folder
    return filename.startswith("<ipython-input") or "ipykernel_" in filename or filename.startswith("<cell")


if __name__ == "__main__":
    main(int(sys.argv[1]))
