#!/bin/sh
# Sends one message through masqmail with the example configuration and
# shows where it went. Needs no root: everything stays in examples/local/.
set -e
here=$(cd "$(dirname "$0")" && pwd)
bin=${MASQMAIL:-$here/../target/release/masqmail}
mkdir -p "$here/local/mail"   # masqmail creates spool, lock and log dirs itself
[ -x "$bin" ] || (cd "$here/.." && cargo build --release --quiet)
printf 'Subject: hello from masqmail\n\nIt works.\n' |
	"$bin" -C "$here/masqmail.conf" root bob@remote.example
echo "== local delivery (root is an alias of alice): $here/local/mail/alice"
tail -n 12 "$here/local/mail/alice"
echo "== the queue (remote mail waits for a connection):"
"$bin" -C "$here/masqmail.conf" -bp
echo "== the log:"
tail -n 5 "$here/local/log/masqmail.log"
