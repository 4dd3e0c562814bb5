#!/usr/bin/env bash
# Create .venv with Python 3.11, install requirements (only when they changed), migrate, compile
# the translations (the .mo files are built here, not kept in git; needs GNU gettext's msgfmt).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
.venv/bin/python manage.py migrate --noinput -v0
# The translations need GNU gettext's msgfmt: installed here when missing and we can (as root).
if ! command -v msgfmt >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing gettext to compile the translations"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
  else
    echo "msgfmt (GNU gettext) missing and not root: the interface stays English-only" >&2
  fi
fi
if command -v msgfmt >/dev/null; then
  .venv/bin/python manage.py compilemessages --ignore .venv -v0
fi
