"""Few-shot keyword spotting on synthetic speech: words spoken by espeak-ng's voices, as log-mel spectrograms.

No recorded multi-speaker speech installs offline, but a formant synthesiser does: the
``espeakng-loader`` wheel ships espeak-ng's library and its voices. :func:`spoken_words` says each word
with several voices (male, female, Klatt and other variants of English), speaking rates and pitches;
a word is a class, a voice-rate-pitch triple an example, so a task is few-shot keyword spotting
with the N-way K-shot protocol of the image chapters, on the 35 words of Google's Speech Commands
(:data:`WORDS`).

This is synthetic speech: every voice is a rule-based model, cleaner and far less varied than people
are, so accuracies here say nothing about recorded speech.

:func:`log_mel` is the usual front end (23 ms windows every 10 ms, 40 mel bands, written out with
``torch.stft`` and a triangular filter bank on the HTK mel scale: O'Shaughnessy, 1987).
"""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import torch

from .paths import cache_dir, write_cache_file

#: Google Speech Commands v2's 35 words (Warden, 2018, arXiv:1804.03209).
WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
         "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
         "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")

#: espeak-ng English voices (a language and a voice variant): male, female, old, young, Klatt-synthesis
#: and three accents. The breathy variants (f2, f3, f5, whisper, ...) are left out: their breath noise
#: differs from run to run, so their samples could not be made again.
VOICES = ("en+m1", "en+m2", "en+m3", "en+m4", "en+m5", "en+m6", "en+m7", "en+f1", "en+f4", "en+Annie",
          "en+belinda", "en+linda", "en+steph", "en+aunty", "en+grandma", "en+grandpa", "en+Andrea",
          "en+klatt", "en+klatt2", "en+klatt3", "en+croak", "en-us+m1", "en-gb-scotland+m3", "en-029+m2")

SAMPLE_RATE = 22050

# Runs in a fresh interpreter: espeak-ng keeps state between utterances (the same call gives other
# samples the second time), so the same list gives the same waveforms only from a fresh start.
_SYNTH = r"""
import ctypes, json, sys
import espeakng_loader, numpy as np, torch
jobs, out = json.loads(sys.argv[1]), sys.argv[2]
lib = ctypes.CDLL(espeakng_loader.get_library_path())
if lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0) != 22050:
    raise SystemExit("espeak-ng did not start at 22050 Hz")
chunks = []
CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
@CB
def keep(wav, n, events):
    if n > 0:
        chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0
lib.espeak_SetSynthCallback(keep)
waves = []
for word, voice, rate, pitch in jobs:
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SystemExit(f"espeak-ng has no voice {voice!r}")
    lib.espeak_SetParameter(1, rate, 0)
    lib.espeak_SetParameter(3, pitch, 0)
    chunks.clear()
    text = word.encode() + b"\0"
    lib.espeak_Synth(text, len(text), 0, 1, 0, 0, None, None)
    lib.espeak_Synchronize()
    waves.append(torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros(0, np.int16)))
torch.save(waves, out)
"""


def synthesize(jobs: list[tuple[str, str, int, int]]) -> list[torch.Tensor]:
    """Waveforms (int16 at 22,050 Hz) for ``(word, voice, words per minute, pitch 0-99)`` jobs, in order.

    The synthesiser runs in a fresh Python process, so the same jobs always give the same samples.
    """
    try:
        import espeakng_loader  # noqa: F401  (checked here, used by the child process)
    except ImportError:
        raise ImportError("espeakng-loader is missing; install the book's environment (bash tools/book.sh) "
                          "or pip install espeakng-loader==0.2.4") from None
    bad = [j for j in jobs if j[1] not in VOICES or not (80 <= j[2] <= 450) or not (0 <= j[3] <= 99)]
    if bad:
        raise ValueError(f"bad synthesis job {bad[0]}: the voice must be one of metalib.data.speech.VOICES, "
                         f"the rate 80-450 words per minute, the pitch 0-99")
    out = cache_dir("speech") / f".synth-{hashlib.sha1(json.dumps(jobs).encode()).hexdigest()[:16]}.pt"
    try:
        subprocess.run([sys.executable, "-c", _SYNTH, json.dumps(jobs), str(out)], check=True,
                       capture_output=True, text=True)
        return torch.load(out)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"espeak-ng failed: {error.stderr.strip().splitlines()[-1:]}") from None
    finally:
        out.unlink(missing_ok=True)


def mel_filters(n_fft: int = 512, n_mels: int = 40, sample_rate: int = SAMPLE_RATE, f_min: float = 20.0,
                f_max: float | None = None) -> torch.Tensor:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` equally spaced on the HTK mel scale
    ``m = 2595 log10(1 + f / 700)``, each rising from the centre of its left neighbour to its own
    centre and falling to the centre of its right neighbour (peak 1)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    edges_mel = torch.linspace(mel(f_min), mel(f_max), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)                         # [n_mels + 2] in Hz
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - left) / (centre - left)
    falling = (right - freqs) / (right - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def log_mel(waves: torch.Tensor, frames: int = 80, n_fft: int = 512, hop: int = 220,
            n_mels: int = 40) -> torch.Tensor:
    """Log-mel spectrograms ``[M, 1, n_mels, frames]`` of waveforms ``[M, T]`` in [-1, 1] at 22,050 Hz.

    23 ms Hann windows (``n_fft`` = 512 samples) every 10 ms (220), power spectrum, :func:`mel_filters`,
    ``log(1e-6 + ·)``; cropped or padded with silence to ``frames``.
    """
    if waves.dim() != 2:
        raise ValueError(f"log_mel expects waveforms [M, T], got shape {tuple(waves.shape)}")
    need = (frames - 1) * hop + 1
    waves = torch.nn.functional.pad(waves, (0, max(0, need - waves.shape[1])))[:, :need]
    spec = torch.stft(waves, n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      center=True, return_complex=True).abs() ** 2                 # [M, F, frames]
    return torch.log(1e-6 + mel_filters(n_fft, n_mels) @ spec)[:, None, :, :frames]


def spoken_words(words: tuple[str, ...] = WORDS, voices: tuple[str, ...] = VOICES, rates: tuple[int, ...] = (130, 175),
                 pitches: tuple[int, ...] = (35, 65)) -> dict:
    """Every word said by every voice at every rate and pitch, as log-mel features, cached.

    Returns a dict with ``features`` float ``[M, 1, 40, 80]``, ``word`` and ``voice`` int64 ``[M]``
    (indices into ``words`` and ``voices``), ``seconds`` ``[M]`` (each utterance's length) and the
    lists ``words`` and ``voices``.
    """
    jobs = [(w, v, r, p) for w in words for v in voices for r in rates for p in pitches]
    key = hashlib.sha1(json.dumps(jobs).encode()).hexdigest()[:16]
    path = cache_dir("speech") / f"spoken-words-{key}.pt"
    if path.exists():
        try:
            return torch.load(path)
        except Exception:                   # a damaged cache file is made again
            path.unlink(missing_ok=True)
    waves = synthesize(jobs)
    longest = max(len(w) for w in waves)
    batch = torch.zeros(len(waves), longest)
    for i, w in enumerate(waves):
        batch[i, :len(w)] = w.float() / 32768.0
    per = len(rates) * len(pitches)
    result = {
        "features": log_mel(batch),
        "word": torch.arange(len(words)).repeat_interleave(len(voices) * per),
        "voice": torch.arange(len(voices)).repeat_interleave(per).repeat(len(words)),
        "seconds": torch.tensor([len(w) / SAMPLE_RATE for w in waves]),
        "words": list(words), "voices": list(voices),
    }
    write_cache_file(path, result, "spoken words")
    return result
