#!/bin/sh
# Installs Debian's Chromium for the browser suites (tests/browser) when it is missing.
# Never downloads a browser from anywhere else: playwright-core drives /usr/bin/chromium.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
test -x "$CHROMIUM"
