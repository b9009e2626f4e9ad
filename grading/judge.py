"""Grading one submission: run it confined, then compare what it computed with the reference.

An assignment's hidden tests live in `assignments/hidden/NN_name.py`, a module with a list
`QUESTIONS` of `Question`s. Each question has

- ``inputs(generator)``: the judge draws the inputs (tensors, numbers) the submission is called on;
  keys starting with ``_`` stay in the judge (the labels of held-out queries, say);
- ``probe(ns, inputs)``: a self-contained function whose *source* is sent into the sandbox, where it
  calls the submission's functions (``ns`` is the notebook's namespace) and returns plain data;
- ``checks(inputs, outputs, grade)``: runs here, in the judge, with the teacher's reference; it
  awards the question's points with ``grade.check(points, passed, what, hint)``.

The judge never imports or executes submitted code, so nothing a submission does (patching torch,
the test runner, the exit function) reaches the comparison, and the score is written by this process
only, in a folder the sandbox cannot see.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import codec, notebooks, sandbox

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "assignments"
MAX_CHANNEL_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Question:
    name: str
    points: float
    inputs: Callable[[torch.Generator], dict]
    probe: Callable
    checks: Callable
    prompt: str = ""


@dataclass(frozen=True)
class Assignment:
    name: str
    questions: list[Question]
    master: Path
    time_limit: float = 120.0          # the submission's cells, all together, in seconds
    cell_time: float = 60.0            # one cell
    probe_time: float = 30.0           # each question's probe
    startup_time: float = 20.0         # starting Python and torch in the sandbox
    limits: sandbox.Limits = sandbox.Limits()
    manual: list[dict] = field(default_factory=list)   # written questions: name, points, rubric
    needs_data: str | None = None      # a data set the notebook reads (a folder of METALIB_DATA)

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)


_loading = [ASSIGNMENTS]


def load(name: str, root: Path = ASSIGNMENTS) -> Assignment:
    """The assignment `name` (e.g. 04_maml) in folder `root`: its master and its hidden tests."""
    root = Path(root)
    master = root / f"{name}.ipynb"
    spec_file = root / "hidden" / f"{name}.py"
    if not master.is_file() or not spec_file.is_file():
        known = sorted(p.stem for p in root.glob("hidden/*.py"))
        raise SystemExit(f"no assignment {name!r} (it needs {master} and {spec_file}); known: {known}")
    spec = importlib.util.spec_from_file_location(f"hidden_{name}", spec_file)
    module = importlib.util.module_from_spec(spec)
    data = default_data()
    if data is not None:   # the setup cells of an assignment that reads data load it here too
        os.environ.setdefault("METALIB_DATA", str(data.resolve()))
    _loading.append(root)
    try:
        spec.loader.exec_module(module)
    finally:
        _loading.pop()
    return Assignment(name=name, questions=module.QUESTIONS, master=master,
                      time_limit=getattr(module, "TIME_LIMIT", 120.0),
                      cell_time=getattr(module, "CELL_TIME", 60.0),
                      probe_time=getattr(module, "PROBE_TIME", 30.0),
                      limits=getattr(module, "LIMITS", sandbox.Limits()),
                      manual=getattr(module, "MANUAL", []),
                      needs_data=getattr(module, "NEEDS_DATA", None))


class Grade:
    """The checks of one question, as the judge runs them."""

    def __init__(self):
        self.checks: list[dict] = []

    def check(self, points: float, passed, what: str, hint: str = "") -> bool:
        """Award `points` if `passed`; `what` says what was checked, `hint` the likely mistake."""
        if isinstance(passed, codec.Failed):
            ok, detail = False, f"your code raised {passed.error}"
        elif isinstance(passed, tuple):
            ok, detail = bool(passed[0]), passed[1]
        else:
            ok, detail = bool(passed), ""
        self.checks.append({"what": what, "points": points if ok else 0, "max_points": points,
                            "passed": ok, "detail": detail, "hint": "" if ok else hint})
        return ok

    def vectorised(self, points: float, right: bool, lines, small: str, large: str, hint: str) -> bool:
        """Award `points` if the answer is `right` and as many of its lines ran (runner.lines_run) for the
        `small` input as for the `large` one: no Python loop over what the sizes count."""
        few, many = lines if isinstance(lines, (list, tuple)) and len(lines) == 2 else (None, None)
        ok = right and isinstance(few, int) and few == many
        detail = ("" if ok else "an incorrect answer is not checked for vectorisation" if not right
                  else f"{few} lines of your code ran for {small}, {many} for {large}")
        return self.check(points, (ok, detail), f"vectorised: the same code runs for {small} as for {large}", hint)

    def accuracy(self, points: float, predictions, labels: torch.Tensor, thresholds: tuple[float, float],
                 what: str, hints: tuple[str, str]) -> None:
        """Half of `points` for a held-out accuracy of at least thresholds[0], half for thresholds[1]."""
        if not isinstance(predictions, torch.Tensor) or predictions.shape != labels.shape:
            self.check(points, close(predictions, labels.float()), f"{what} gives predictions for the held-out "
                       "tasks", hints[0])
            return
        accuracy = float((predictions == labels).float().mean())
        for threshold, hint in zip(thresholds, hints):
            self.check(points / 2, (accuracy >= threshold, f"held-out accuracy {accuracy:.1%}"),
                       f"{what}: held-out accuracy of at least {threshold:.0%}", hint)


def close(got, expected, atol: float = 1e-6, rtol: float = 1e-5):
    """(passed, detail): `got` matches `expected` (tensors, numbers, lists, dicts) within tolerance."""
    if isinstance(got, codec.Failed):
        return False, f"your code raised {got.error}"
    if got is None:
        return False, "your function returned None: is its `...` still there, or a `return` missing?"
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return False, f"expected a dictionary with keys {sorted(expected)}, got {_describe(got)}"
        for key in expected:
            ok, detail = close(got[key], expected[key], atol, rtol)
            if not ok:
                return False, f"[{key!r}] {detail}"
        return True, ""
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return False, f"expected {len(expected)} values, got {_describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            ok, detail = close(g, e, atol, rtol)
            if not ok:
                return False, f"[{i}] {detail}"
        return True, ""
    expected = torch.as_tensor(expected)
    if isinstance(got, (int, float)):
        got = torch.tensor(got)
    if not isinstance(got, torch.Tensor):
        return False, f"expected a tensor, got {_describe(got)}"
    if got.shape != expected.shape:
        return False, f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    got, expected = got.double(), expected.double()
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        return False, "your result holds nan or inf"
    if torch.allclose(got, expected, atol=atol, rtol=rtol):
        return True, ""
    return False, f"largest difference {float((got - expected).abs().max()):.3g} (tolerance {atol:g})"


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, dict):
        return f"a dictionary with keys {sorted(value)}"
    return type(value).__name__


def held_out_tasks(dataset, generator: torch.Generator, tasks: int, n_way: int, k_shot: int, n_query: int,
                   shuffle_support: bool = False) -> dict:
    """Tasks on which a training part is graded, drawn by the judge from `dataset` (a FewShotDataset).

    Returns indices, not images: "support" and "query" are [2, tasks, M] (class and example of each
    image), "support_y" the support labels, and "_labels" the query labels, which stay in the judge.
    The queries are shuffled (and the support too, with `shuffle_support`), so that a query's place
    tells nothing of its label.
    """
    n, k, q = n_way, k_shot, n_query
    classes = torch.stack([torch.randperm(dataset.num_classes, generator=generator)[:n] for _ in range(tasks)])
    examples = torch.stack([torch.stack([torch.randperm(int(dataset.counts[c]), generator=generator)[:k + q]
                                         for c in row]) for row in classes])                   # [T, N, K+Q]
    s_order = (torch.stack([torch.randperm(n * k, generator=generator) for _ in range(tasks)]) if shuffle_support
               else torch.arange(n * k).expand(tasks, -1))
    q_order = torch.stack([torch.randperm(n * q, generator=generator) for _ in range(tasks)])
    s_label = torch.arange(n).repeat_interleave(k)[s_order]
    q_label = torch.arange(n).repeat_interleave(q)[q_order]
    s_example = torch.gather(examples[:, :, :k].reshape(tasks, n * k), 1, s_order)
    q_example = torch.gather(examples[:, :, k:].reshape(tasks, n * q), 1, q_order)
    return {"support": torch.stack([torch.gather(classes, 1, s_label), s_example]), "support_y": s_label,
            "query": torch.stack([torch.gather(classes, 1, q_label), q_example]), "_labels": q_label}


def _probe_source(question: Question) -> tuple[str, str]:
    source = inspect.getsource(question.probe)
    return source, question.probe.__name__


def grade(assignment: Assignment, submission: Path, mode: str = "namespaces", data: Path | None = None,
          log: Path | None = None, seed: int = 0) -> dict:
    """Grade one submission; returns the results (status, per-question points, checks, feedback).

    status is "graded", "timed out" (the whole run passed its limit; questions sent before it are
    graded) or "not graded" (the notebook could not be read, or the process ended before any
    question was probed).
    """
    if assignment.needs_data:
        data = data or default_data()
        if data is None or not (Path(data) / assignment.needs_data).is_dir():
            return _not_graded(assignment, f"this assignment reads {assignment.needs_data}: give the folder "
                                           f"that holds {assignment.needs_data}/ with --data (or METALIB_DATA)")
        os.environ.setdefault("METALIB_DATA", str(Path(data).resolve()))
    try:
        cells = notebooks.code_cells(submission)
    except notebooks.NotANotebook as exc:
        return _not_graded(assignment, f"{exc}")
    generator = torch.Generator().manual_seed(seed)
    inputs = {q.name: q.inputs(generator) for q in assignment.questions}
    request = {
        "cells": cells,
        "setup": notebooks.setup_cells(assignment.master),
        "time_limit": assignment.time_limit,
        "cell_time": assignment.cell_time,
        "probe_time": assignment.probe_time,
        "questions": [dict(zip(("probe_source", "probe_name"), _probe_source(q)), name=q.name,
                           inputs=codec.encode(_sent(inputs[q.name]))) for q in assignment.questions],
    }
    run = _run_confined(assignment, request, mode, data, log)
    return _judge(assignment, inputs, run)


def default_data() -> Path | None:
    """METALIB_DATA, or the course's shared data folder beside the repository, if there."""
    for candidate in (os.environ.get("METALIB_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def _sent(inputs: dict) -> dict:
    """What goes into the sandbox: the inputs without the judge's own keys (those starting with _),
    such as the labels of held-out queries."""
    return {k: v for k, v in inputs.items() if not k.startswith("_")}


def _run_confined(assignment: Assignment, request: dict, mode: str, data: Path | None,
                  log: Path | None) -> dict:
    read_end, write_end = os.pipe()
    limit = assignment.time_limit + assignment.probe_time * len(assignment.questions) + assignment.startup_time
    with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
        workdir = Path(scratch)
        if mode == "uid":
            os.chmod(workdir, 0o755)
            work = workdir / "work"
            work.mkdir()
            os.chown(work, sandbox.NOBODY, sandbox.NOBODY)
            cwd = work
        else:
            cwd = workdir
        argv = sandbox.command(mode, [str(write_end)], assignment.limits, data=data, scratch=workdir)
        log_file = open(log, "wb") if log else subprocess.DEVNULL
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                       pass_fds=(write_end,), cwd=cwd, start_new_session=True)
        finally:
            os.close(write_end)
        received = bytearray()

        def reader():
            with os.fdopen(read_end, "rb") as channel:
                while chunk := channel.read(65536):
                    if len(received) + len(chunk) > MAX_CHANNEL_BYTES:
                        _kill(process, mode)
                        break
                    received.extend(chunk)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        start = time.monotonic()
        try:
            process.stdin.write(json.dumps(request).encode())
            process.stdin.close()
        except BrokenPipeError:
            pass
        timed_out = False
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(process, mode)
            process.wait()
        thread.join(timeout=10)
        if log:
            log_file.close()
    return {"lines": bytes(received).decode("utf-8", "replace").splitlines(), "timed_out": timed_out,
            "returncode": process.returncode, "seconds": time.monotonic() - start, "limit": limit}


def _kill(process: subprocess.Popen, mode: str) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if mode == "uid":   # anything nobody started that left the process group
        subprocess.run(["pkill", "-KILL", "-u", str(sandbox.NOBODY)], capture_output=True)


def _parse(lines: list[str]) -> tuple[list[dict], dict[str, dict], bool]:
    cells, questions, done = [], {}, False
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        event = message.get("event")
        if event == "cell":
            cells.append({"index": message.get("index"), "error": message.get("error")})
        elif event == "question" and isinstance(message.get("name"), str):
            questions.setdefault(message["name"], message)   # the first word on a question stands
        elif event == "done":
            done = True
    return cells, questions, done


def _judge(assignment: Assignment, inputs: dict, run: dict) -> dict:
    cells, answers, done = _parse(run["lines"])
    results = []
    for question in assignment.questions:
        message = answers.get(question.name)
        grade = Grade()
        if message is None:
            status = "timed out" if run["timed_out"] else "not graded"
            reason = (f"the run passed its {run['limit']:.0f} s limit before this question"
                      if run["timed_out"] else
                      f"the notebook's process ended (exit code {run['returncode']}) before this question")
        elif "timed_out" in message:
            status, reason = "timed out", f"your code {message['timed_out']} on this question"
        elif "error" in message:
            status, reason = "graded", f"your code raised {message['error']}"
        else:
            try:
                outputs = codec.decode(message.get("outputs"))
            except codec.CodecError as exc:
                outputs, status, reason = None, "graded", f"the answer could not be read back ({exc})"
            else:
                status, reason = "graded", ""
                try:
                    question.checks(inputs[question.name], outputs, grade)
                except Exception as exc:   # noqa: BLE001 - an answer of an unexpected form fails the checks
                    grade.checks.append({"what": "the answer has the form the question asks for",
                                         "points": 0, "max_points": question.points, "passed": False,
                                         "detail": f"{type(exc).__name__}: {exc}", "hint": ""})
        points = sum(c["points"] for c in grade.checks) if not reason else 0.0
        checked = sum(c["max_points"] for c in grade.checks)
        if not reason and abs(checked - question.points) > 1e-9 and all(c["passed"] for c in grade.checks):
            raise AssertionError(f"{assignment.name}/{question.name}: checks worth {checked}, "
                                 f"question worth {question.points}")
        results.append({"name": question.name, "points": min(points, question.points),
                        "max_points": question.points, "status": status, "reason": reason,
                        "checks": grade.checks})
    statuses = {r["status"] for r in results}
    if run["timed_out"]:
        status = "timed out"
    elif not answers:
        status = "not graded"
    else:
        status = "graded" if statuses <= {"graded", "timed out"} else "not graded"
    return {"assignment": assignment.name, "status": status,
            "points": sum(r["points"] for r in results), "max_points": assignment.points,
            "questions": results, "cells": [c for c in cells if c["error"]],
            "seconds": round(run["seconds"], 1), "finished": done}


def _not_graded(assignment: Assignment, reason: str) -> dict:
    return {"assignment": assignment.name, "status": "not graded", "reason": reason, "points": 0.0,
            "max_points": assignment.points, "cells": [], "finished": False, "seconds": 0.0,
            "questions": [{"name": q.name, "points": 0.0, "max_points": q.points, "status": "not graded",
                           "reason": reason, "checks": []} for q in assignment.questions]}


def feedback(result: dict) -> str:
    """The result as text for the student: each question, each check, and what to look at."""
    lines = [f"{result['assignment']}: {result['points']:g} / {result['max_points']:g} points "
             f"({result['status']})"]
    if result.get("reason"):
        lines.append(f"  {result['reason']}")
    for cell in result.get("cells", []):
        lines.append(f"  cell {cell['index'] + 1} of the notebook: {cell['error']}")
    for q in result["questions"]:
        lines.append(f"\n{q['name']}: {q['points']:g} / {q['max_points']:g} ({q['status']})")
        if q["reason"]:
            lines.append(f"  {q['reason']}")
        for c in q["checks"]:
            mark = "passed" if c["passed"] else "FAILED"
            lines.append(f"  [{mark}] {c['what']} ({c['points']:g} / {c['max_points']:g})")
            if c["detail"]:
                lines.append(f"      {c['detail']}")
            if c["hint"]:
                lines.append(f"      hint: {c['hint']}")
    return "\n".join(lines) + "\n"


def setup_namespace(name: str, root: Path | None = None) -> dict:
    """The namespace the master's setup cells make (the network, the loss), for references."""
    root = _loading[-1] if root is None else root
    namespace: dict = {"__name__": f"setup_{name}"}
    for source in notebooks.setup_cells(root / f"{name}.ipynb"):
        exec(compile(source, f"<{name} setup>", "exec"), namespace)
    return namespace
