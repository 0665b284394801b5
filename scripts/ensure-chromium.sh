#!/bin/sh
# Installs Debian's Chromium for the browser suites (tests/browser) when it is missing.
# Never downloads a browser from anywhere else: playwright-core drives /usr/bin/chromium.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
# Browser suites run in parallel jest workers: the first one installs, the others wait here
# (a second apt-get would fail on the dpkg lock), then find the binary.
exec 9>"${TMPDIR:-/tmp}/signalgate-ensure-chromium.lock"
flock 9
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
$SUDO apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 chromium
test -x "$CHROMIUM"
