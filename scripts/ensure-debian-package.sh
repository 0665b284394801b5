#!/bin/sh
# Installs a Debian package when the file it provides is missing:
#   ensure-debian-package.sh /usr/bin/chromium chromium
# Used by suites and benchmarks for what they drive (chromium, docker-compose, mosquitto, wrk);
# nothing is fetched from anywhere but Debian's mirror.
set -eu
FILE=$1
PACKAGE=$2
if [ -x "$FILE" ]; then
  exit 0
fi
# Suites run in parallel jest workers: the first one installs, the others wait here (a second
# apt-get would fail on the dpkg lock), then find the file.
exec 9>"${TMPDIR:-/tmp}/signalgate-apt.lock"
flock 9
if [ -x "$FILE" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "$PACKAGE"
test -x "$FILE"
