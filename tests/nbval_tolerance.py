"""nbval with a tolerance for the figures that depend on floating-point round-off.

The stored outputs come from one machine. Another CPU (AVX2 against AVX-512 or AMX kernels), another
thread count or another library build rounds differently; a round-off gap then reads 6.0e-08 where
3.0e-08 is stored, and a few hundred training steps turn different round-off into slightly
different losses and accuracies. What does not depend on round-off (shapes, counts, table layouts,
error messages, which method wins) must still match exactly.

So every code cell is compared exactly, as nbval does, except in cells tagged ``nbval-approx``.
There the text outputs (streams and ``text/plain``) are split into numbers and the text between
them: the text must match exactly (but for the width of runs of spaces, which right-aligned columns
change when a number gains a digit), and so must the count of numbers; each number is compared by
its kind:

- a mean printed with its 95% interval, ``m ± h``: the two intervals must overlap
  (``|m' - m| <= h + h'``) or the means lie within the relative tolerance below, and the new
  half-width within half of the stored one. The interval covers the sampling of test tasks only;
  a model trained for a few hundred steps on another CPU adds training noise of that size or more
  (chapter 3's Prototypical Network at 5-way 1-shot read 72.3 ± 4.9 on one machine and
  67.3 ± 5.2 with one thread on another; its Relation Network 59.5, 66.7 and 56.1 on three runs),
  so cells reporting such models set a wider ``nbval-rtol``;
- a round-off gap, a number in scientific notation: both the stored and the new value below
  ``ROUNDOFF`` (1e-5), or else within the relative tolerance below;
- any other number: ``|x' - x| <= rtol * max(|x|, |x'|)`` plus one unit of its last printed digit,
  with ``rtol = RTOL`` (10%: a loss or a ratio from a trained model moved by up to 7.5% between
  machines) or the cell's own ``"nbval-rtol"`` metadata value.

Cells whose figures are too chaotic for any fixed tolerance are tagged ``nbval-ignore-output``
(nbval's own tag); the assertion cells after them check what the prose claims. When a comparison
fails, nbval's usual report shows the two outputs, preceded by the first number that was too far.

One more change to nbval: after a cell's reply, nbval waits at most 5 s (hard-coded; upstream
issues computationalmodelling/nbval#136 and #231) for each further message from the kernel, up to
the one that says the kernel is idle again. A kernel on a busy machine can take longer: CI once
failed chapter 5's longest cell (148 s of training) with "Timeout of 5 seconds exceeded waiting
for output" although the cell had run. Here the wait is ``OUTPUT_TIMEOUT`` (60 s) instead;
``tests/test_nbval_tolerance.py`` reproduces that failure with a kernel that goes idle 7 s late.

Loaded for every pytest run by ``pyproject.toml`` (``-p nbval_tolerance``); tests for it are in
``tests/test_nbval_tolerance.py``.
"""
from __future__ import annotations

import copy
import re

from nbval.plugin import IPyNbCell

TAG = "nbval-approx"
RTOL = 0.1
ROUNDOFF = 1e-5
OUTPUT_TIMEOUT = 60   # seconds to wait for each message after a cell's reply (nbval's own: 5)
NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# a number, optionally followed by "± half-width"; numbers glued to letters (5w1s, x86_64, cu130,
# 0.weight) are part of the text and must match exactly
TOKEN = re.compile(rf"(?<![\w.])({NUMBER})(\s*±\s*({NUMBER}))?(?![\w])")


def _unit(text: str) -> float:
    """One unit of the last printed digit: 0.01 for '3.44', 1 for '300', 1e-09 for '1.2e-08'."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def _close(stored: str, new: str, rtol: float) -> bool:
    a, b = float(stored), float(new)
    if "e" in stored.lower() and "e" in new.lower() and abs(a) < ROUNDOFF and abs(b) < ROUNDOFF:
        return True
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + max(_unit(stored), _unit(new))


def _skeleton(text: str) -> str:
    """The text with every number replaced by '#' and each run of spaces by one space (a
    right-aligned column moves its padding when a number gains or loses a digit)."""
    return re.sub(r"[ \t]+", " ", TOKEN.sub("#", text))


def mismatch(stored: str, new: str, rtol: float = RTOL) -> str | None:
    """Why ``new`` does not match ``stored`` under the rules above, or None when it does."""
    stored_tokens, new_tokens = list(TOKEN.finditer(stored)), list(TOKEN.finditer(new))
    if _skeleton(stored) != _skeleton(new) or len(stored_tokens) != len(new_tokens):
        return "the text around the numbers differs"
    for s, n in zip(stored_tokens, new_tokens):
        if s.group(0) == n.group(0):
            continue
        if s.group(3) is not None:   # a mean with its interval
            half, new_half = float(s.group(3)), float(n.group(3))
            overlap = abs(float(s.group(1)) - float(n.group(1))) <= half + new_half
            if not overlap and not _close(s.group(1), n.group(1), rtol):
                return (f"{n.group(0)!r} and the stored {s.group(0)!r} do not overlap, and the means "
                        f"are more than {rtol:.0%} apart")
            if not _close(s.group(3), n.group(3), 0.5):
                return f"interval of {n.group(0)!r} is not within half of the stored {s.group(0)!r}"
        elif not _close(s.group(1), n.group(1), rtol):
            return f"{n.group(1)} is more than {rtol:.0%} from the stored {s.group(1)}"
    return None


def _texts(output: dict) -> list[tuple[object, str]]:
    """(container, key) pairs holding an output's comparable text."""
    if output.get("output_type") == "stream":
        return [(output, "text")]
    data = output.get("data", {})
    return [(data, "text/plain")] if "text/plain" in data else []


_exact_compare = IPyNbCell.compare_outputs


def compare_outputs(self, test, ref, skip_compare=None):
    """nbval's comparison, after new texts that match the stored ones within tolerance are
    replaced by the stored texts (in a copy), so that nbval's exact check passes on them."""
    if TAG not in self.cell.metadata.get("tags", []):
        return _exact_compare(self, test, ref, skip_compare)
    rtol = float(self.cell.metadata.get("nbval-rtol", RTOL))
    test = copy.deepcopy(test)
    problems = []
    if len(test) == len(ref):
        for new_output, stored_output in zip(test, ref):
            for (new_box, key), (stored_box, stored_key) in zip(_texts(new_output), _texts(stored_output)):
                stored_text, new_text = self.sanitize(stored_box[stored_key]), self.sanitize(new_box[key])
                why = mismatch(stored_text, new_text, rtol)
                if why is None:
                    new_box[key] = stored_box[stored_key]
                else:
                    problems.append(why)
    same = _exact_compare(self, test, ref, skip_compare)
    if not same and problems:
        self.comparison_traceback.insert(0, f"{TAG} (rtol {rtol:g}): {problems[0]}")
    return same


_nbval_init = IPyNbCell.__init__


def init_with_longer_output_wait(self, *args, **kwargs):
    _nbval_init(self, *args, **kwargs)
    self.output_timeout = OUTPUT_TIMEOUT


def pytest_configure(config):
    IPyNbCell.compare_outputs = compare_outputs
    IPyNbCell.__init__ = init_with_longer_output_wait
