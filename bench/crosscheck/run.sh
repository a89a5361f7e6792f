#!/bin/sh
# Cross-check of `npm run bench`'s ratios with another client stack (bench/crosscheck/ftplib_load.py, Python ftplib):
# for each server, `npm run bench -- serve --server S` starts it fresh on a temp root with the bench files, the
# ftplib generator runs N sessions at concurrency C against it (after 100 warm-up sessions), and the server is stopped.
#   sh bench/crosscheck/run.sh "firmdrop pyftpdlib-tuned vsftpd" "2000:1 2000:50 2000:1000"
# Prints one JSON line per run, prefixed with the server's name. Loopback only; each run is bounded (N, 120 s).
set -eu
cd "$(dirname "$0")/../.."
servers=${1:-"firmdrop pyftpdlib-tuned"}
configs=${2:-"2000:1 2000:50 2000:1000"}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for s in $servers; do
  for nc in $configs; do
    n=${nc%%:*} c=${nc##*:}
    out=$(mktemp)
    node --import tsx bench/cli.ts serve --server "$s" >"$out" 2>&1 &
    pid=$!
    i=0
    until grep -q '"url"' "$out" 2>/dev/null; do
      i=$((i + 1)); [ $i -lt 300 ] || { echo "$s: did not start: $(cat "$out")" >&2; kill $pid; exit 1; }
      sleep 0.1
    done
    url=$(grep '"url"' "$out" | head -1 | sed 's/.*"url":"\([^"]*\)".*/\1/')
    creds=${url#ftp://}; creds=${creds%@*}
    user=${creds%%:*} pass=$(printf '%s' "${creds#*:}" | sed 's/%40/@/g')
    port=${url##*:}
    "$py" bench/crosscheck/ftplib_load.py --port "$port" --user "$user" --password "$pass" -n 100 -c 10 >/dev/null
    printf '%s ' "$s"
    "$py" bench/crosscheck/ftplib_load.py --port "$port" --user "$user" --password "$pass" -n "$n" -c "$c"
    kill -INT $pid; wait $pid || true
    rm -f "$out"
  done
done
