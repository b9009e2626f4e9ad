"""The README's run-one-chapter commands work, as far as they can be run headless."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from test_notebooks_stored import notebook_problems

ROOT = Path(__file__).resolve().parents[1]


def run_one_chapter_commands() -> list[list[str]]:
    """The commands of the README's "Run one chapter" block, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Run one chapter", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_readme_names_jupyterlab_regenerate_and_test():
    programs = [command[:2] for command in run_one_chapter_commands()]
    assert programs == [[".venv/bin/jupyter", "lab"], ["bash", "tools/regenerate.sh"],
                        ["bash", "tools/test.sh"]], programs
    for command in run_one_chapter_commands():
        assert (ROOT / command[-1]).is_file(), f"the README's {command[-1]} does not exist"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_opens_the_chapter_headless(tmp_path):
    command = run_one_chapter_commands()[0]
    port, token = free_port(), "readme-test"
    log = (tmp_path / "jupyterlab.log").open("w+")
    server = subprocess.Popen(
        [str(ROOT / command[0]), *command[1:], "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],   # CI runs as root; JupyterLab asks for this
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # given a file, JupyterLab serves that file's folder and opens the file in it
    url = f"http://127.0.0.1:{port}/api/contents/{Path(command[-1]).name}?token={token}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    contents = json.load(response)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"JupyterLab did not serve {command[-1]}: {log.read()[-2000:]}")
                time.sleep(0.5)
        assert contents["type"] == "notebook" and contents["content"]["cells"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as page:
            assert "JupyterLab" in page.read().decode()
    finally:
        os.killpg(server.pid, signal.SIGKILL)   # the server and whatever it started
        server.wait(timeout=30)
        log.close()


TINY = {"nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "a",
                   "source": "import os\nprint(os.environ['OMP_NUM_THREADS'], os.environ['METALIB_BUDGET'])"},
                  {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "b",
                   "source": "import metalib\nimport torch\n"
                             "losses = metalib.train(lambda i: torch.tensor(1.0), 3, desc='tiny')"}]}


def test_regenerate_stores_one_clean_run_under_the_test_settings(tmp_path):
    notebook = ROOT / "book" / f".readme-test-{os.getpid()}.ipynb"
    notebook.write_text(json.dumps(TINY))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "METALIB_BUDGET")}
        subprocess.run(["bash", "tools/regenerate.sh", str(notebook.relative_to(ROOT))], cwd=ROOT,
                       env=env, check=True, capture_output=True, timeout=300)
        stored = json.loads(notebook.read_text())
        assert notebook_problems(stored) == []
        assert "".join(stored["cells"][0]["outputs"][0]["text"]) == "1 default\n"
        bar = stored["cells"][1]["outputs"][0]["data"]   # the progress bar, with its finished line
        assert "application/vnd.jupyter.widget-view+json" in bar
        assert re.fullmatch(r"tiny: 3/3 steps in \d+\.\d s", "".join(bar["text/plain"]))
    finally:
        notebook.unlink(missing_ok=True)


def test_regenerate_leaves_a_failing_notebook_as_it_was():
    notebook = ROOT / "book" / f".readme-fail-{os.getpid()}.ipynb"
    failing = json.loads(json.dumps(TINY))
    failing["cells"][1]["source"] = "raise ValueError('on purpose')"
    notebook.write_text(json.dumps(failing))
    try:
        done = subprocess.run(["bash", "tools/regenerate.sh", str(notebook.relative_to(ROOT))], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and "FAILED, left unchanged" in done.stderr
        assert json.loads(notebook.read_text()) == failing
    finally:
        notebook.unlink(missing_ok=True)
        for log in (ROOT / "book").glob(f".regenerate.{notebook.name}*"):
            log.unlink()
