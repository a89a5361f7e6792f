#!/bin/sh
# User-space instructions per OTA session of a server, counted by valgrind's callgrind: a count, not a time, so it
# repeats on a shared or noisy machine where CPU seconds do not (BENCHMARKS.md, "What limits firmdrop now").
# The server runs under callgrind with instrumentation off, serves WARM sessions at C=1 (`npm run bench -- --url`)
# so that its JIT and caches are warm, then instrumentation is switched on for N more sessions and the total is
# divided by N. All of the server's threads are counted; the kernel's work (system calls) is not.
#   sh bench/instructions.sh firmdrop          [WARM] [N]    (defaults 1000 and 200)
#   sh bench/instructions.sh pyftpdlib-tuned   [WARM] [N]
# Needs valgrind (callgrind_control) and, for pyftpdlib, Debian's python3-pyftpdlib. Loopback only; bounded by N.
set -eu
cd "$(dirname "$0")/.."
kind=${1:?usage: bench/instructions.sh firmdrop|pyftpdlib-tuned [WARM] [N]}
warm=${2:-1000}
n=${3:-200}
command -v callgrind_control >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
work=$(mktemp -d /tmp/firmdrop-instructions-XXXXXX)
trap 'kill -KILL ${vg:-} ${srv:-} 2>/dev/null || true; rm -rf "$work"' EXIT

# The bench's own root for this kind of server (firmdrop: published with its catalogue; anchors: plain files).
node --import tsx bench/cli.ts serve --server "$kind" >"$work/serve.json" 2>&1 &
srv=$!
i=0
until grep -q '"root"' "$work/serve.json" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 300 ] || { echo "$kind did not start: $(cat "$work/serve.json")" >&2; exit 1; }
  sleep 0.1
done
cp -a "$(sed 's/.*"root":"\([^"]*\)".*/\1/' "$work/serve.json")" "$work/root"
kill -INT $srv; wait $srv || true
srv=

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$kind" in
  firmdrop)
    node bin/build-dist.js >/dev/null
    set -- node bin/firmdrop.js serve --root "$work/root" --host 127.0.0.1 --port "$port" --pasv-range 20000-29999 \
      --user bench:bench --log-format json ;;
  pyftpdlib|pyftpdlib-tuned)
    tuned=; [ "$kind" = pyftpdlib-tuned ] && tuned=--tuned
    set -- /usr/bin/python3 bench/anchors/pyftpdlib_server.py --root "$work/root" --port "$port" $tuned ;;
  *) echo "instructions.sh measures firmdrop, pyftpdlib or pyftpdlib-tuned (one process), not $kind" >&2; exit 2 ;;
esac
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" "$@" >"$work/server.log" 2>"$work/valgrind.log" &
vg=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "$kind did not start under valgrind" >&2; exit 1; }
  sleep 0.5
done
url="ftp://bench:bench@127.0.0.1:$port"
npm run -s bench -- --url "$url" -n "$warm" -c 1 --session-timeout 120 >/dev/null
callgrind_control -i on $vg >/dev/null 2>&1
npm run -s bench -- --url "$url" -n "$n" -c 1 --session-timeout 120 | grep -E 'ok [0-9]+' >"$work/run.txt"
callgrind_control -i off $vg >/dev/null 2>&1
callgrind_control -d $vg >/dev/null 2>&1
sleep 2
total=$(cat "$work"/cg.out* 2>/dev/null | sed -n 's/^totals: //p' | sort -n | tail -1)
ok=$(sed -n 's/.*ok \([0-9]*\).*/\1/p' "$work/run.txt")
[ "$ok" = "$n" ] || { echo "$kind: only $ok of $n sessions succeeded: $(cat "$work/run.txt")" >&2; exit 1; }
python3 -c "print('$kind: %.2f M instructions per session (%d sessions at C=1 after %d warm-up)' % ($total / $n / 1e6, $n, $warm))"
