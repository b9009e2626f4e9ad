"""metalib sets OMP_WAIT_POLICY=PASSIVE before PyTorch loads, and says so when it cannot."""
import os
import subprocess
import sys


def run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, env={**clean, **env}, check=True)


def test_import_metalib_first_makes_threads_wait_passively():
    out = run("import os, metalib, torch; print(os.environ['OMP_WAIT_POLICY'])")
    assert out.stdout.strip() == "PASSIVE" and "spin" not in out.stderr


def test_a_policy_already_in_the_environment_is_kept():
    out = run("import os, metalib; print(os.environ['OMP_WAIT_POLICY'])", OMP_WAIT_POLICY="ACTIVE")
    assert out.stdout.strip() == "ACTIVE" and out.stderr == ""


def test_torch_imported_first_gives_a_warning_that_names_the_fix():
    out = run("import os, torch, metalib; print(os.environ.get('OMP_WAIT_POLICY'))")
    assert out.stdout.strip() == "None"
    assert "import metalib before torch" in out.stderr and "OMP_WAIT_POLICY=PASSIVE" in out.stderr
