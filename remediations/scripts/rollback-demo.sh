#!/bin/sh
# Roll the demo service back to the version before the last deploy.
# The demo has no real versions: "rolling back" asks it to heal (POST /heal).
# Arguments arrive as literal argv elements (never through a shell string).
set -eu

service=""
to=""
for arg in "$@"; do
    case "$arg" in
        --service=*) service=${arg#--service=} ;;
        --to=*) to=${arg#--to=} ;;
        *) echo "rollback-demo.sh: unknown argument" >&2; exit 2 ;;
    esac
done
if [ -z "$service" ] || [ -z "$to" ]; then
    echo "usage: rollback-demo.sh --service=SERVICE --to=VERSION" >&2
    exit 2
fi
port=${WATCHDOG_DEMO_PORT:-9798}
printf 'rolling back %s to %s\n' "$service" "$to"
"${WATCHDOG_PYTHON:-python3}" - "$port" <<'PY'
import sys
import urllib.request

request = urllib.request.Request(f"http://127.0.0.1:{int(sys.argv[1])}/heal", method="POST")
urllib.request.urlopen(request, timeout=5).read()
PY
echo "rolled back"
