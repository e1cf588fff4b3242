#!/usr/bin/env bash
# Debian packages wavetag uses when present: extra synthesiser voices for the built-in demo data
# (flite, festival + kal_diphone). Installs them when run as root with apt-get; otherwise says
# what is missing and carries on (everything works without them, with fewer voices).
#
#   install-debian-deps.sh          install what is missing; exit 0 when all are there (or cannot
#                                   be installed here: not root, no apt-get), 1 when apt-get failed
#   install-debian-deps.sh --check  install nothing; exit 1 when a package is missing that this
#                                   script could install (the Makefile then leaves set-up unmarked,
#                                   so the next `make` tries again)
#
# apt-get waits up to APT_LOCK_TIMEOUT_S for the package lock (another apt or unattended-upgrades
# holding it), and a failed update/install is retried once after RETRY_DELAY_S.
set -u
APT_LOCK_TIMEOUT_S=${APT_LOCK_TIMEOUT_S:-120}
RETRY_DELAY_S=${RETRY_DELAY_S:-10}
packages=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
# Debian's Chromium (and a font) for the web-page test, tests/test_serve_browser.py (driven by Playwright).
packages+=(chromium fonts-dejavu-core)

missing_packages() {
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
}

can_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
  local apt=(apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT_S" -qq)
  "${apt[@]}" update >/dev/null && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
}

missing_packages
if [ "${1:-}" = "--check" ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  can_install || exit 0  # nothing a rerun could change
  echo "note: Debian packages still missing (${missing[*]}); set-up is not marked complete, so the next 'make' tries again" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if ! can_install; then
  echo "note: optional Debian packages not installed (${missing[*]}); run 'sudo apt-get install ${missing[*]}' for more demo voices and the browser test" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2; do
  apt_install && exit 0
  missing_packages
  [ ${#missing[@]} -eq 0 ] && exit 0
  [ "$attempt" = 1 ] && { echo "apt-get failed; retrying in ${RETRY_DELAY_S} s" >&2; sleep "$RETRY_DELAY_S"; }
done
echo "warning: apt-get could not install ${missing[*]} (waited ${APT_LOCK_TIMEOUT_S} s for the apt lock, tried twice); continuing without them: run 'sudo apt-get install ${missing[*]}'" >&2
exit 1
