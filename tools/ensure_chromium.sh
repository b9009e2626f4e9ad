#!/usr/bin/env bash
# Make sure Debian's chromium is installed, for tests/test_book_in_browser.py.
# Idempotent: does nothing when a chromium binary is already on the machine.
# Installs with apt-get (through sudo when not root). Takes a minute or two on a fresh machine.
set -euo pipefail

for candidate in chromium chromium-browser; do
    if path="$(command -v "$candidate")"; then
        echo "chromium present: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null; then
    echo "error: no chromium found and no apt-get to install it; install Chromium and put it on PATH" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    echo "error: chromium missing, not root and no sudo: run 'apt-get install chromium' as root" >&2
    exit 1
fi

echo "installing Debian's chromium with apt-get ..."
start=$SECONDS
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
command -v chromium >/dev/null || { echo "error: apt-get finished but no chromium on PATH" >&2; exit 1; }
echo "chromium installed in $((SECONDS - start)) s: $(chromium --version)"
