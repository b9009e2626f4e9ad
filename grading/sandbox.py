"""The confined process a submission runs in.

Two ways to confine it, both from util-linux (on every Linux):

- ``namespaces`` (the default): ``unshare`` gives the process its own mount, PID, network, IPC and
  UTS namespaces (and a user namespace when the grader is not root). Inside, a new root file system is built on an empty tmpfs holding, read-only,
  only what running Python and torch needs (``/usr``, ``/etc``, the Python installation, the
  virtual environment, ``metalib``, this package, and the data folder when there is one), plus an
  empty writable ``/tmp`` and working folder. The old root is detached, so the repository, the
  hidden tests, the masters, other submissions and the results folder do not exist in there, and
  only ``/tmp``, ``/dev/shm`` and the working folder are writable. The network namespace has no
  interface up. Then every capability is dropped and no_new_privs is set
  (``setpriv``), so the process cannot mount, unmount or gain privileges; a grader running as root
  also switches to the user nobody, so that the process limit applies (the kernel exempts root).
- ``uid``: for a machine where unprivileged namespaces are switched off but the grader runs as
  root (Gradescope's containers). The process runs as the user ``nobody`` with no capabilities; the
  files it must not see must be unreadable to that user, which `check_uid_mode` verifies before
  anything runs. There is no network isolation in this mode.

In both, ``prlimit`` caps memory (address space), processes, file size and open files, and the
judge kills the process (and with the PID namespace, everything it started) at its time limit.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
# the grader's own settings of torch's processor kernels, passed on (nothing else of its environment is)
PASSED_ON = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")
PACKAGE = Path(__file__).resolve().parent


class SandboxUnavailable(RuntimeError):
    """This machine cannot confine a submission in the way asked for."""


@dataclass(frozen=True)
class Limits:
    memory_gib: float = 6.0     # address space; torch's CUDA build maps about 3 GiB at import
    processes: int = 512        # threads count as processes
    file_mib: int = 256         # largest file the submission may write
    open_files: int = 256


def _python_paths() -> list[Path]:
    """What the interpreter needs, read-only: its installation, the virtual environment, metalib."""
    paths = {Path(sys.base_prefix), Path(sys.prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(Path(sysconfig.get_paths()[key]))
    metalib = importlib.util.find_spec("metalib")
    if metalib is not None and metalib.origin:
        paths.add(Path(metalib.origin).resolve().parent)
    real = {p.resolve() for p in paths if p.exists()}
    # keep only the outermost folders
    return sorted(p for p in real if not any(q != p and q in p.parents for q in real))


SETUP_SCRIPT = r"""
set -eu
new=$1; shift
mkdir "$new"
mount -t tmpfs -o size=64m,mode=755 tmpfs "$new"
mkdir -p "$new/dev/shm" "$new/proc" "$new/tmp" "$new/submission"
mount -t tmpfs -o size=1g,mode=1777 tmpfs "$new/tmp"
mount -t tmpfs -o size=256m,mode=1777 tmpfs "$new/dev/shm"
mount -t tmpfs -o size=1g,mode=1777 tmpfs "$new/submission"
for d in null zero full random urandom; do
  touch "$new/dev/$d"; mount --bind "/dev/$d" "$new/dev/$d"
done
mount -t proc proc "$new/proc"
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  p=$1; shift
  mkdir -p "$new$p"; mount --rbind "$p" "$new$p"; mount -o remount,bind,ro "$new$p"
done
shift
for l in bin lib lib32 lib64 libx32 sbin; do
  if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$new/$l"; fi
done
mkdir "$new/old-root"
cd "$new"
pivot_root . old-root
umount -l /old-root
rmdir /old-root
mount -o remount,ro /
cd /submission
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all "$@"
"""


def _have(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise SandboxUnavailable(f"{', '.join(missing)} not found: install util-linux "
                                 "(Debian/Ubuntu: apt install util-linux mount)")


def namespaces_work() -> str | None:
    """None if unprivileged namespaces work here, else why not."""
    try:
        _have("unshare", "setpriv", "prlimit")
    except SandboxUnavailable as exc:
        return str(exc)
    root = os.geteuid() == 0
    run = subprocess.run(["unshare", *([] if root else ["--map-root-user"]), "--mount", "--pid", "--fork",
                          "--net", "sh", "-c", "mount -t tmpfs tmpfs /tmp && echo ok"],
                         capture_output=True, text=True, timeout=30)
    if run.returncode == 0 and run.stdout.strip() == "ok":
        return None
    if root:
        return (run.stderr.strip() or f"unshare exited {run.returncode}") + (
            ". This machine (a container, probably) does not allow new namespaces even to root. Fix: "
            "grade with --sandbox uid, after making the hidden tests unreadable to others")
    return (run.stderr.strip() or f"unshare exited {run.returncode}") + (
        ". This machine does not allow unprivileged user namespaces. Fix: allow them "
        "(Ubuntu 24.04: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0; other systems: "
        "sudo sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces=10000), or grade "
        "as root with --sandbox uid after making the hidden tests unreadable to others")


def check_uid_mode(secrets: list[Path]) -> None:
    """Refuse the uid mode unless we are root and the user nobody can read none of `secrets`."""
    _have("setpriv", "prlimit")
    if os.geteuid() != 0:
        raise SandboxUnavailable("--sandbox uid needs root (it runs submissions as the user nobody); "
                                 "as another user, use --sandbox namespaces")
    readable = []
    for path in secrets:
        probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                "test", "-r", str(path)], capture_output=True)
        if probe.returncode == 0:
            readable.append(str(path))
    if readable:
        raise SandboxUnavailable(
            "in --sandbox uid the submission runs as nobody, who can read " + ", ".join(readable)
            + ": make them unreadable to others (chmod -R go-rwx on the folder that holds them) "
              "or use --sandbox namespaces")


def command(mode: str, python_args: list[str], limits: Limits, data: Path | None = None,
            scratch: Path | None = None) -> list[str]:
    """The argv that runs `python python_args...` confined (see the module's docstring).

    In the namespaces mode the new root is mounted on ``scratch/root``, a folder made inside the
    grader's `scratch` folder, which the caller removes afterwards (the mount itself vanishes with
    the namespace)."""
    python = str(Path(sys.executable))
    limit = ["prlimit", f"--as={int(limits.memory_gib * 2**30)}", f"--nproc={limits.processes}",
             f"--fsize={limits.file_mib * 2**20}", f"--nofile={limits.open_files}", "--core=0", "--"]
    env = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "MPLCONFIGDIR=/tmp", "MPLBACKEND=Agg",
           "OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=PASSIVE", "PYTHONDONTWRITEBYTECODE=1",
           "IPYTHONDIR=/tmp/ipython", "LANG=C.UTF-8", "GRADING=1"]
    env += [f"{k}={os.environ[k]}" for k in PASSED_ON if k in os.environ]
    if data is not None:
        env += [f"METALIB_DATA={Path(data).resolve()}", "METALIB_CACHE=/tmp/metalib-cache"]
    grader = ["-E", "-s", "-c", f"import sys; sys.path.insert(0, {str(PACKAGE.parent)!r}); "
              "from grading.runner import main; main(int(sys.argv[1]))"]
    if mode == "namespaces":
        _have("unshare", "setpriv", "prlimit")
        binds = ["/usr", "/etc", *map(str, _python_paths()), str(PACKAGE)]
        if data is not None and data.is_dir():
            binds.append(str(data.resolve()))
        if os.geteuid() == 0:   # namespaces without a user namespace, then the user nobody
            user, drop = [], [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        else:                   # a user namespace mapping this user to root inside it
            user, drop = ["--map-root-user"], []
        if scratch is None:
            raise ValueError("the namespaces sandbox needs a scratch folder for its root")
        return ["unshare", *user, "--mount", "--pid", "--fork", "--kill-child", "--net", "--ipc", "--uts",
                "sh", "-c", SETUP_SCRIPT, "grading-sandbox", str(Path(scratch) / "root"), *binds, "--", *drop,
                *env, *limit, python, *grader, *python_args]
    if mode == "uid":
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                "--bounding-set=-all", "--inh-caps=-all", "--", *env, *limit, python, *grader,
                *python_args]
    raise ValueError(f"unknown sandbox {mode!r}: use namespaces or uid")
