#!/usr/bin/env bash
# Installs the Debian packages that Hotline 122 and its tests need, when they are
# missing. Run as root on Debian/Ubuntu. When it cannot install (not root, no
# apt-get), it prints the exact list of missing packages and exits non-zero.
set -euo pipefail

# One package a line: the service's own needs first, then the test peers.
PACKAGES=(
  python3-venv     # make run / make test create .venv
  sox              # prompt conversion, audio checks
  espeak-ng        # Russian speech synthesis of prompts (local, offline)
  festival         # second Russian speech synthesiser
  festvox-ru       # festival's Russian voice
  sip-tester       # SIPp: SIP traffic generator (integration tests, benchmarks)
  baresip          # real softphone: operators' phones in tests
  sipsak           # raw SIP message sender
  tshark           # RTP stream analysis on loopback
  postgresql       # the production database, exercised by the store tests
  openssl          # test certificates for SIP over TLS
  chromium         # headless browser for the web workplace tests (Playwright)
  chromium-driver  # its WebDriver, the same build
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: cannot install (need root and apt-get). Missing packages:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "system-deps: installed ${missing[*]}"
