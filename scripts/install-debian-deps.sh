#!/usr/bin/env bash
# Debian packages wavetag uses when present: extra synthesiser voices for the built-in demo data
# (flite, festival + kal_diphone). Installs them when run as root with apt-get; otherwise says
# what is missing and carries on (everything works without them, with fewer voices).
set -u
packages=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
# Debian's Chromium (and a font) for the web-page test, tests/test_serve_browser.py (driven by Playwright).
packages+=(chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install ${missing[*]}; continuing without them" >&2
else
  echo "note: optional Debian packages not installed (${missing[*]}); run 'sudo apt-get install ${missing[*]}' for more demo voices" >&2
fi
exit 0
