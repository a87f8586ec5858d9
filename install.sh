#!/bin/sh
# Installs masqmail (Rust) under PREFIX, optionally into a staging DESTDIR.
# Run `sh install.sh --help` for the options.

set -eu

usage() {
    cat <<'USAGE'
usage: sh install.sh [--no-build] [--lib-sendmail] [--no-config] [--help]

Builds masqmail (cargo build --release --locked) and installs it.

  --no-build      do not run cargo; install the binaries already built
  --lib-sendmail  also create PREFIX/lib/sendmail -> ../sbin/masqmail
  --no-config     do not create /etc/masqmail/masqmail.conf and aliases
  --help          print this text

Environment:
  PREFIX           installation prefix (default /usr/local)
  DESTDIR          staging directory prepended to every path (default empty)
  SYSCONFDIR       configuration directory (default /etc/masqmail; the
                   binary looks for /etc/masqmail/masqmail.conf)
  MASQMAIL_BIN_DIR where the built binaries are (default target/release)

Installed:
  PREFIX/sbin/masqmail and the links sendmail, mailq, newaliases, runq,
  mailrm; PREFIX/bin/mservdetect; PREFIX/share/masqmail/tpl/*.tpl;
  manual pages in PREFIX/share/man/man5 and man8; the example
  configuration (masqmail.conf, aliases, isp.get) in
  PREFIX/share/doc/masqmail/; systemd, ppp and
  NetworkManager files in PREFIX/share/masqmail/dist/.
  An existing SYSCONFDIR/masqmail.conf is never replaced.
USAGE
}

build=yes
lib_sendmail=no
config=yes
for arg in "$@"; do
    case $arg in
        --no-build) build=no ;;
        --lib-sendmail) lib_sendmail=yes ;;
        --no-config) config=no ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
    esac
done

# Work from the source tree, wherever we were called from.
src=$(cd "$(dirname "$0")" && pwd)
cd "$src"

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc/masqmail}
bindir_built=${MASQMAIL_BIN_DIR:-target/release}

case $PREFIX in
    /*) ;;
    *) echo "install.sh: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 64 ;;
esac

if [ "$build" = yes ]; then
    cargo build --release --locked
fi

for bin in masqmail mservdetect; do
    if [ ! -x "$bindir_built/$bin" ]; then
        echo "install.sh: $bindir_built/$bin not found; build first or set MASQMAIL_BIN_DIR" >&2
        exit 1
    fi
done

root=$DESTDIR$PREFIX
sbin=$root/sbin
bin=$root/bin
share=$root/share/masqmail
man=$root/share/man
doc=$root/share/doc/masqmail
etc=$DESTDIR$SYSCONFDIR

# put MODE SRC DST: copy a file (through a temporary name, so a running
# binary is replaced, not overwritten in place).
put() {
    mkdir -p "$(dirname "$3")"
    cp "$2" "$3.tmp.$$"
    chmod "$1" "$3.tmp.$$"
    mv -f "$3.tmp.$$" "$3"
}

# link NAME TARGET DIR: DIR/NAME -> TARGET
link() {
    rm -f "$3/$1"
    ln -s "$2" "$3/$1"
}

put 0755 "$bindir_built/masqmail" "$sbin/masqmail"
for name in sendmail mailq newaliases runq mailrm; do
    link "$name" masqmail "$sbin"
done
if [ "$lib_sendmail" = yes ]; then
    mkdir -p "$root/lib"
    link sendmail ../sbin/masqmail "$root/lib"
fi
put 0755 "$bindir_built/mservdetect" "$bin/mservdetect"

for tpl in tpl/*.tpl; do
    put 0644 "$tpl" "$share/tpl/$(basename "$tpl")"
done

for page in man/*.[58]; do
    section=${page##*.}
    put 0644 "$page" "$man/man$section/$(basename "$page")"
done

put 0644 examples/masqmail.conf "$doc/masqmail.conf"
put 0644 examples/aliases "$doc/aliases"
put 0644 examples/isp.get "$doc/isp.get"
put 0644 dist/masqmail.conf "$doc/masqmail.conf.default"

# The service file names the binary by its installed path.
mkdir -p "$share/dist/systemd"
sed "s|/usr/local/sbin/masqmail|$PREFIX/sbin/masqmail|" dist/systemd/masqmail.service \
    >"$share/dist/systemd/masqmail.service.tmp.$$"
chmod 0644 "$share/dist/systemd/masqmail.service.tmp.$$"
mv -f "$share/dist/systemd/masqmail.service.tmp.$$" "$share/dist/systemd/masqmail.service"
put 0755 dist/ppp/ip-up.d/masqmail "$share/dist/ppp/ip-up.d/masqmail"
put 0755 dist/ppp/ip-down.d/masqmail "$share/dist/ppp/ip-down.d/masqmail"
put 0755 dist/networkmanager/90-masqmail "$share/dist/networkmanager/90-masqmail"

if [ "$config" = yes ]; then
    mkdir -p "$etc"
    if [ -e "$etc/masqmail.conf" ]; then
        echo "kept the existing $SYSCONFDIR/masqmail.conf"
    else
        put 0644 dist/masqmail.conf "$etc/masqmail.conf"
        echo "wrote $SYSCONFDIR/masqmail.conf: check host_name"
    fi
    if [ ! -e "$etc/aliases" ]; then
        printf '# see masqmail.aliases(5)\npostmaster: root\n' >"$etc/aliases.tmp.$$"
        chmod 0644 "$etc/aliases.tmp.$$"
        mv -f "$etc/aliases.tmp.$$" "$etc/aliases"
    fi
fi

d=$PREFIX/share/masqmail/dist
cat <<DONE
masqmail installed under $DESTDIR$PREFIX.

To run the daemon (SMTP on listen_addresses, queue run every 30 minutes):
  cp $d/systemd/masqmail.service /etc/systemd/system/
  systemctl daemon-reload && systemctl enable --now masqmail

To send queued mail and fetch new mail when a ppp link comes up
(masqmail -qo IPPARAM, then masqmail -go IPPARAM):
  cp $d/ppp/ip-up.d/masqmail /etc/ppp/ip-up.d/
  cp $d/ppp/ip-down.d/masqmail /etc/ppp/ip-down.d/

To do the same for NetworkManager connections (masqmail -qo CONNECTION_ID,
then masqmail -go CONNECTION_ID):
  cp $d/networkmanager/90-masqmail /etc/NetworkManager/dispatcher.d/
DONE
