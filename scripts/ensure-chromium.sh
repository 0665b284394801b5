#!/bin/sh
# Installs Debian's Chromium for the browser suites (tests/browser) when it is missing.
# Never downloads a browser from anywhere else: playwright-core drives /usr/bin/chromium.
exec sh "$(dirname "$0")/ensure-debian-package.sh" /usr/bin/chromium chromium
