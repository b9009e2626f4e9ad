"""The pinned environment: learn2learn (the benchmarks' reference) imports cleanly next to our torch."""
import subprocess
import sys


def test_learn2learn_imports_quietly_with_numpy_below_2():
    # gym-notices 0.1.0 prints a banner on import and numpy 2 breaks qpth; both are pinned away.
    done = subprocess.run([sys.executable, "-c", "import learn2learn, numpy; print(learn2learn.__version__, numpy.__version__)"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    version, numpy_version = done.stdout.split()
    assert version == "0.2.0"
    assert int(numpy_version.split(".")[0]) < 2
    assert done.stderr.strip() == "", f"importing learn2learn printed to stderr:\n{done.stderr}"
