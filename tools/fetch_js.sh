#!/usr/bin/env bash
# Fetch the JavaScript that renders ipywidgets snapshots in the built book, from the npm registry,
# so that the book needs no CDN: require.js and @jupyter-widgets/html-manager's embed-amd.js.
# They land in book/_static/vendor/ (git-ignored), which _config.yml serves as _static/vendor/.
#
# Each package's tarball is downloaded from the npm registry ($NPM_CONFIG_REGISTRY, default
# https://registry.npmjs.org/) with Python's standard library, so neither Node.js nor npm is needed,
# and it is checked against the sha512 pinned below (the registry's own "integrity" field) before
# anything is unpacked.
# Idempotent: a stamp records what was installed; a second run with the same pins does nothing.
#
# Why embed-amd.js is enough: its bundle contains @jupyter-widgets/base (1.2.0 and 2.0.0),
# @jupyter-widgets/controls (1.5.0 and 2.0.0) and @jupyter-widgets/output, so the widgets of
# ipywidgets 7 and 8 load without a network; only third-party widget libraries (bqplot, ipympl, ...)
# would be fetched from the CDN named by data-jupyter-widgets-cdn, and the browser test fails on that.
# The Font Awesome fonts of the bundle are loaded from the folder that holds embed-amd.js, so they are
# copied next to it.
set -euo pipefail

HTML_MANAGER_VERSION=1.0.15
HTML_MANAGER_SHA512="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="
REQUIREJS_VERSION=2.3.8
REQUIREJS_SHA512="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw=="

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/book/_static/vendor"
STAMP="$VENDOR/.fetched"
WANT="@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION $HTML_MANAGER_SHA512
requirejs@$REQUIREJS_VERSION $REQUIREJS_SHA512"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && [ -s "$VENDOR/require.js" ] && [ -s "$VENDOR/html-manager/embed-amd.js" ]; then
    echo "fetch_js: book/_static/vendor is up to date (html-manager $HTML_MANAGER_VERSION, requirejs $REQUIREJS_VERSION)"
    exit 0
fi

PYTHON=python3
[ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
REGISTRY="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# fetch NAME VERSION EXPECTED_SHA512 DEST: download NAME@VERSION's tarball, check it, unpack into DEST
fetch() {
    echo "fetch_js: $1@$2 from $REGISTRY"
    "$PYTHON" - "$REGISTRY" "$@" <<'PY'
import base64, hashlib, pathlib, sys, tarfile, urllib.request

registry, name, version, expected, dest = sys.argv[1:]
url = f"{registry.rstrip('/')}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
try:
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
except OSError as error:
    sys.exit(f"fetch_js: error: could not download {url}: {error}\n"
             "  the npm registry must be reachable (or set NPM_CONFIG_REGISTRY to a mirror)")
actual = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
if actual != expected:
    sys.exit(f"fetch_js: error: integrity mismatch for {name}@{version} ({url})\n"
             f"  expected {expected}\n  got      {actual}")
tarball = pathlib.Path(dest + ".tgz")
tarball.write_bytes(data)
with tarfile.open(tarball) as archive:
    archive.extractall(dest, filter="data")   # refuses absolute paths, '..' and links out of dest
PY
}

fetch "@jupyter-widgets/html-manager" "$HTML_MANAGER_VERSION" "$HTML_MANAGER_SHA512" "$WORK/html-manager"
fetch "requirejs" "$REQUIREJS_VERSION" "$REQUIREJS_SHA512" "$WORK/requirejs"

# Assemble in a fresh folder, then swap it in, so that a failed run never leaves half a vendor folder.
NEW="$WORK/vendor"
mkdir -p "$NEW/html-manager"
cp "$WORK/requirejs/package/require.js" "$NEW/require.js"
dist="$WORK/html-manager/package/dist"
cp "$dist/embed-amd.js" "$NEW/html-manager/"
shopt -s nullglob
fonts=("$dist"/*.woff2 "$dist"/*.woff "$dist"/*.ttf "$dist"/*.eot "$dist"/*.svg)
[ "${#fonts[@]}" -gt 0 ] || { echo "fetch_js: error: no font files in html-manager's dist/" >&2; exit 1; }
cp "${fonts[@]}" "$NEW/html-manager/"
# every asset file name the bundle refers to must be there
for name in $(grep -oE '[0-9a-f]{20}\.(woff2|woff|ttf|eot|svg)' "$NEW/html-manager/embed-amd.js" | sort -u); do
    [ -f "$NEW/html-manager/$name" ] || { echo "fetch_js: error: embed-amd.js needs $name, not in dist/" >&2; exit 1; }
done
printf '%s\n' "$WANT" > "$NEW/.fetched"

rm -rf "$VENDOR"
mkdir -p "$(dirname "$VENDOR")"
mv "$NEW" "$VENDOR"
echo "fetch_js: installed html-manager $HTML_MANAGER_VERSION and requirejs $REQUIREJS_VERSION in book/_static/vendor"
