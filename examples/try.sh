#!/usr/bin/env bash
# The whole road of a mail on a laptop, with the example configuration and
# no root: everything lives in examples/local/ (removed and made afresh).
#
#   1. the masqmail daemon listens on localhost:2525 (masqmail.conf);
#   2. a message for a local user is delivered at once, one for a remote
#      address comes in over SMTP and waits in the queue: we are offline;
#   3. the link "comes up" (local/online names connection "home"): the
#      daemon's next queue run sends the queue through provider.route to
#      the provider's smarthost — a second masqmail on localhost:2626
#      (provider.conf) — with the sender rewritten to the provider's domain;
#   4. the daemon fetches the mailbox of online_gets.home from a local POP3
#      source (pop3_source, built from examples/) and delivers it to alice.
#
# MASQMAIL and POP3_SOURCE may name the binaries to use (the test suite
# does); by default they are built with cargo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
local=$here/local
if [ -z "${MASQMAIL:-}" ] || [ -z "${POP3_SOURCE:-}" ]; then
	(cd "$here/.." && cargo build --release --quiet --bin masqmail --example pop3_source)
fi
bin=${MASQMAIL:-$here/../target/release/masqmail}
pop3_source=${POP3_SOURCE:-$here/../target/release/examples/pop3_source}
mm() { "$bin" -C "$here/masqmail.conf" "$@"; }
provider() { "$bin" -C "$here/provider.conf" "$@"; }

# Stop what we started, whatever happens.
pids=()
cleanup() {
	for pidfile in "$local/run/masqmail.pid" "$local/provider/run/masqmail.pid"; do
		[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Waits up to 30 s for a condition (a command), printing what it waits for.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 300); do
		"$@" && return 0
		sleep 0.1
	done
	echo "try.sh: timed out waiting for $what" >&2
	tail -n 20 "$local/log/masqmail.log" >&2 || true
	exit 1
}

rm -rf "$local"
mkdir -p "$local/mail" "$local/provider/mail"

echo "== 1. the provider's smarthost (localhost:2626) and POP3 mailbox"
provider -bd
printf 'From: friend@remote.example\nTo: alice.example@provider.example\nSubject: waiting for you at the provider\n\nFetched while you were online.\n' >"$local/inbox.eml"
"$pop3_source" alice.example change-me "$local/inbox.eml" >"$local/pop3.port" &
pids+=($!)
wait_for "the POP3 source" test -s "$local/pop3.port"
cat >"$local/source.get" <<EOF
# Written by try.sh: the local POP3 source (see masqmail.get(5)).
protocol = pop3
server = "127.0.0.1"
port = $(head -n 1 "$local/pop3.port")
# plain POP3 on loopback for the try only; use tls = pop3s or starttls
# with a real provider
tls = none
user = "alice.example"
pass = "change-me"
address = "alice"
EOF

echo "== 2. our daemon (localhost:2525), offline: a queue run every 2 s, fetching every 2 s while online"
mm -bd -q2s -go2s
printf 'Subject: hello from masqmail\n\nLocal mail is delivered at once.\n' | mm root
echo "-- local delivery (root is an alias of alice): $local/mail/alice"
tail -n 4 "$local/mail/alice"

exec 3<>/dev/tcp/127.0.0.1/2525
smtp() {
	local reply
	[ $# -gt 0 ] && printf '%s\r\n' "$1" >&3
	IFS= read -r reply <&3
	echo "   S: ${reply%$'\r'}"
}
echo "-- a message for bob@remote.example over SMTP:"
smtp
smtp "HELO laptop"
smtp "MAIL FROM:<alice@laptop.example.org>"
smtp "RCPT TO:<bob@remote.example>"
smtp "DATA"
printf 'From: alice@laptop.example.org\r\nTo: bob@remote.example\r\nSubject: sent while offline\r\n\r\nQueued until the link came up.\r\n.\r\n' >&3
smtp
smtp "QUIT"
exec 3>&-
echo "-- the queue (masqmail -bp): offline, so the remote mail waits"
mm -bp

echo "== 3. the link comes up: local/online names connection \"home\""
echo home >"$local/online"
wait_for "the queue to reach the provider" grep -q 'sent while offline' "$local/provider/mail/bob" 2>/dev/null
echo "-- at the provider, $local/provider/mail/bob (sender rewritten by provider.route):"
grep -E '^(From |From:|Return-path:|Subject:)' "$local/provider/mail/bob"
mm -bp

echo "== 4. and the provider's mailbox is fetched into alice's mailbox"
wait_for "the fetched mail" grep -q 'waiting for you at the provider' "$local/mail/alice"
grep -E '^(From:|Subject:)' "$local/mail/alice"

echo "== the log ($local/log/masqmail.log):"
tail -n 12 "$local/log/masqmail.log"
