#!/usr/bin/env bash
# A throwaway Samba AD domain controller on loopback, for tests and benchmarks.
#
#   scripts/samba-dc.sh install          apt packages (idempotent; skipped when already installed)
#   scripts/samba-dc.sh provision DIR    provision CORP.EXAMPLE.COM into DIR (idempotent)
#   scripts/samba-dc.sh start DIR        start in the background, wait until 636 accepts
#   scripts/samba-dc.sh stop DIR         SIGTERM the PID in DIR/run/samba.pid, nothing else
#   scripts/samba-dc.sh status DIR       exit 0 when the DC of DIR runs
#
# Everything except the apt packages lives in DIR: configuration, databases, logs, the PID file, the
# generated Administrator password (DIR/admin-password, mode 600; never printed) and the DC's
# self-signed CA (DIR/private/tls/ca.pem). Ports are fixed (389/636) so one DC runs per machine.
# Why each step is as it is: /work/shared/recipes/samba-ad-dc.md.
set -euo pipefail

REALM=CORP.EXAMPLE.COM
DOMAIN=CORP
PACKAGES=(samba samba-ad-dc samba-ad-provision winbind ldb-tools)
START_TIMEOUT=${SAMBA_DC_START_TIMEOUT:-60}

die() { echo "samba-dc: $*" >&2; exit 1; }

need_dir() {
    [[ -n "${1:-}" ]] || die "missing DIR argument"
    mkdir -p "$1"
    (cd "$1" && pwd)
}

cmd_install() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "samba-dc: packages already installed"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # samba-ad-provision is named explicitly: without recommended packages it is left out and
    # provisioning has no templates to provision from.
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

generate_password() {
    # Meets the domain's default complexity rule (three of four character classes, length >= 7).
    local random
    random=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n' | head -c 24)
    printf 'Fs-%s-9x' "$random"
}

cmd_provision() {
    local d
    d=$(need_dir "${1:-}")
    if [[ -f "$d/.provisioned" ]]; then
        echo "samba-dc: $d already provisioned"
        return 0
    fi
    command -v samba-tool >/dev/null || die "samba-tool not found: run '$0 install' first"
    # A half-finished provision leaves databases that a second provision refuses: start clean.
    rm -rf "$d/etc" "$d/private" "$d/state" "$d/cache" "$d/run" "$d/log" "$d/bind-dns"
    mkdir -p "$d/run" "$d/log" "$d/cache"
    if [[ ! -s "$d/admin-password" ]]; then
        (umask 077 && generate_password > "$d/admin-password")
    fi
    chmod 600 "$d/admin-password"
    # The password is on this command line for the few seconds provisioning takes (samba-tool reads
    # it nowhere else); it is never echoed and the provision log does not contain it.
    samba-tool domain provision --realm="$REALM" --domain="$DOMAIN" --server-role=dc \
        --dns-backend=NONE --use-rfc2307 --host-name=dc1 \
        --adminpass="$(cat "$d/admin-password")" \
        --targetdir="$d" --option="interfaces=lo" --option="bind interfaces only=yes" \
        > "$d/log/provision.log" 2>&1 || { tail -20 "$d/log/provision.log" >&2; die "provision failed"; }
    local conf="$d/etc/smb.conf"
    # The generated configuration still points some paths at system folders; keep everything in DIR.
    sed -i -e '/^[[:space:]]*log file[[:space:]]*=/d' -e '/^[[:space:]]*server services[[:space:]]*=/d' "$conf"
    local extra
    extra=$(cat <<CONF
	pid directory = $d/run
	ncalrpc dir = $d/run/ncalrpc
	winbindd socket directory = $d/run/winbindd
	ntp signd socket directory = $d/run/ntp_signd
	log file = $d/log/log.%m
	ldap server require strong auth = no
	server services = ldap, cldap, kdc, rpc, drepl
	disable netbios = yes
	prefork children = 2
	# A throwaway test DC: no fsync per LDB transaction (as in Samba's own selftest); adds get much faster.
	ldb:nosync = true
CONF
)
    awk -v extra="$extra" '{ print } /^\[global\]/ { print extra }' "$conf" > "$conf.new"
    mv "$conf.new" "$conf"
    touch "$d/.provisioned"
    echo "samba-dc: provisioned $REALM into $d"
}

pid_of() {
    local pidfile="$1/run/samba.pid"
    [[ -s "$pidfile" ]] || return 1
    local pid
    pid=$(tr -dc '0-9' < "$pidfile")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    # Only a samba process counts: a stale file may name a recycled PID.
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == samba* ]] || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_status() {
    local d
    d=$(need_dir "${1:-}")
    local pid
    if pid=$(pid_of "$d"); then
        if port_open 636; then
            echo "samba-dc: running (pid $pid), LDAPS on 127.0.0.1:636"
            return 0
        fi
        echo "samba-dc: process $pid runs but 636 does not accept yet"
        return 1
    fi
    echo "samba-dc: not running"
    return 3
}

cmd_start() {
    local d
    d=$(need_dir "${1:-}")
    [[ -f "$d/.provisioned" ]] || die "$d is not provisioned: run '$0 provision $d' first"
    if pid_of "$d" >/dev/null; then
        echo "samba-dc: already running"
    else
        port_open 636 && die "something else already listens on 127.0.0.1:636"
        mkdir -p "$d/run" "$d/log" "$d/cache"
        # -F (foreground, no daemon) rather than -i: interactive mode exits on EOF of stdin, which a
        # background job started from a script or a test runner gets at once. setsid keeps a ^C sent to
        # the caller's process group away from the DC; stop it with 'stop'.
        setsid samba -F -s "$d/etc/smb.conf" --debug-stdout -d1 \
            < /dev/null > "$d/log/samba.out" 2>&1 &
    fi
    local waited=0
    until port_open 636; do
        if (( waited >= START_TIMEOUT * 10 )); then
            tail -20 "$d/log/samba.out" >&2 || true
            die "127.0.0.1:636 did not accept within ${START_TIMEOUT}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    # The PID file may trail the listening socket by a moment.
    for _ in $(seq 50); do pid_of "$d" >/dev/null && break; sleep 0.1; done
    echo "samba-dc: running (pid $(pid_of "$d" || echo '?')), LDAPS on 127.0.0.1:636"
}

cmd_stop() {
    local d
    d=$(need_dir "${1:-}")
    local pid
    if ! pid=$(pid_of "$d"); then
        echo "samba-dc: not running"
        return 0
    fi
    kill -TERM "$pid"
    # The master exits first; its forked workers close the listening sockets a moment later, and
    # a 'start' right after must find the ports free.
    for _ in $(seq 200); do
        if ! kill -0 "$pid" 2>/dev/null && ! port_open 636 && ! port_open 389; then
            echo "samba-dc: stopped"
            return 0
        fi
        sleep 0.1
    done
    die "process $pid (or its workers) did not stop within 20s"
}

case "${1:-}" in
    install) cmd_install ;;
    provision) cmd_provision "${2:-}" ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    status) cmd_status "${2:-}" ;;
    *) echo "usage: $0 {install|provision DIR|start DIR|stop DIR|status DIR}" >&2; exit 2 ;;
esac
