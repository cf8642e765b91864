#!/usr/bin/env bash
# Runs the Lium simulator's tests (tests/lium_sim): installs what they need when it is missing
# (openssh-server/openssh-client/util-linux with apt-get, requirements.txt with pip into the
# python in use), then runs pytest under a time bound. Extra arguments go to pytest.
# PYTHON picks the interpreter (default python3, 3.11 or newer); LIUM_SIM_TEST_TIMEOUT bounds the
# whole run in seconds (default 1500; each test is also bounded by pytest.ini's timeout).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "lium_sim: $PY is older than Python 3.11; set PYTHON to a 3.11+ interpreter" >&2
  exit 2
fi

need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v unshare >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "lium_sim: missing ${need_apt[*]}; install them as root: apt-get install -y ${need_apt[*]}" >&2
    exit 2
  fi
  echo "lium_sim: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq </dev/null
  timeout 600 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" </dev/null
fi

# every `name==version` line of requirements.txt installed at exactly that version?
if ! "$PY" - <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version
missing = []
for line in open("requirements.txt"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        if version(name) != want:
            missing.append(line)
    except PackageNotFoundError:
        missing.append(line)
if missing:
    print("lium_sim: installing " + " ".join(missing), file=sys.stderr)
sys.exit(1 if missing else 0)
PYEOF
then
  timeout 900 "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt </dev/null
fi

exec timeout "${LIUM_SIM_TEST_TIMEOUT:-1500}" "$PY" -m pytest -q "$@" </dev/null
