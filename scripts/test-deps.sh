#!/usr/bin/env bash
# What `make test` needs beyond the Python packages: headless Chromium for the HTML report's
# page test. Installs Debian's package when it is missing and this machine can (root or sudo,
# apt-get); otherwise says in one line what to install, and fails.
set -euo pipefail
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "make test: headless Chromium is needed (the HTML report's page test); install it: sudo apt-get install chromium" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make test: headless Chromium is needed (the HTML report's page test); install Chromium with your package manager" >&2
    exit 1
fi
echo "make test: installing Chromium (Debian's package) for the HTML report's page test"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
