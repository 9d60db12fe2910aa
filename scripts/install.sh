#!/usr/bin/env bash
# Installs everything csq-intake needs on a fresh Debian machine, idempotently:
# Debian packages (Tesseract with French and English, handwriting fonts for the sample
# generator, Chromium for the browser tests), a virtual environment, the project.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng
  fonts-dejavu-core
  fonts-bwht fonts-breip fonts-dkg-handwriting fonts-femkeklaver fonts-humor-sans
  fonts-comic-neue fonts-rufscript fonts-kristi fonts-dancingscript fonts-cabinsketch
  fonts-tlwg-purisa-otf fonts-sjfonts fonts-klee fonts-kiloji fonts-seto fonts-yozvox-yozfont
  fonts-dustin fonts-tomsontalks
  chromium chromium-driver
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.csq-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
# axe-core (npm) checks the pages' accessibility in the browser tests; pinned by package-lock.json.
if [ ! -f node_modules/axe-core/axe.min.js ] || [ package-lock.json -nt node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/axe-core/axe.min.js
  else
    echo "npm is missing: the accessibility checks of the browser tests will fail (apt-get install npm)" >&2
  fi
fi
echo "csq-intake installed: $(.venv/bin/csq --help >/dev/null && echo ok)" >&2
