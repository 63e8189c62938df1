#!/usr/bin/env bash
# gpuhours Slurm 24.11 rig: the same single-machine cluster as rig.sh (slurmdbd -> MariaDB, two
# slurmd with fake A100/H100 GPUs, slurmrestd + JWT, munge), made of Debian 13 (trixie)
# packages in a debootstrap tree, so that it runs beside the 22.05 rig of the host's packages.
# Own ports, state dir, MariaDB database, cluster name and pid files. See deploy/slurm/README.md.
#
#   rig2411.sh install | start | stop | status | token [--lifespan S] | env | reset-jobs
#
# How: every Slurm/munge command (daemons and clients) runs through a small wrapper in
# $STATE/bin that enters a private mount namespace (proc, sysfs and the state dir bind-mounted
# into the tree at the same path), then chroot()s into the tree; each step exec()s, so the
# recorded PID is the daemon's. Nothing stays mounted on the host. The lifecycle code (start
# order, waits, PID-exact stop, seeding, tokens) is rig.sh's, sourced, with the settings below.
#
# Settings (environment; `start` records them in $STATE/rig.env and the other subcommands
# reuse them; an explicitly set variable always wins):
#   GPUHOURS_SLURM2411_HOME       tree + state, default /var/lib/gpuhours-rig-2411
#   GPUHOURS_SLURM2411_DIR        state dir, default $HOME/state
#   GPUHOURS_SLURM2411_TREE       debootstrap tree, default $HOME/tree
#   GPUHOURS_SLURM2411_MIRROR     Debian mirror, default: the first one this host's apt names
#   GPUHOURS_SLURM2411_SUITE      default trixie (Slurm 24.11.5)
#   GPUHOURS_SLURM2411_CLUSTER    cluster name, default enact-2411
#   GPUHOURS_SLURM2411_REST_PORT  slurmrestd port, default 6920
#   GPUHOURS_SLURM2411_CTLD_PORT / _DBD_PORT / _A100_PORT / _H100_PORT  6917 / 6919 / 6918 / 6921
#   GPUHOURS_SLURM2411_SVC_USER   REST client user, default gpuhours
#   GPUHOURS_SLURM2411_DB_HOST / _DB_PORT / _DB_USER / _DB_PASS / _DB_NAME
#                                 default 127.0.0.1 / 3306 / root / "" / gpuhours_slurm_acct_2411
#   GPUHOURS_SLURM2411_TIMEOUT, GPUHOURS_SLURM2411_TOKEN_LIFESPAN  as in rig.sh
# The 22.05 rig's GPUHOURS_SLURM_* variables are ignored here, so both can be exported at once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

RIG_HOME=${GPUHOURS_SLURM2411_HOME:-/var/lib/gpuhours-rig-2411}
TREE=${GPUHOURS_SLURM2411_TREE:-$RIG_HOME/tree}
SUITE=${GPUHOURS_SLURM2411_SUITE:-trixie}
REST_VERSION=v0.0.42

# rig.sh reads GPUHOURS_SLURM_*: this rig's values, never the 22.05 rig's
SETTINGS=(CLUSTER REST_PORT CTLD_PORT DBD_PORT A100_PORT H100_PORT SVC_USER DB_HOST DB_PORT
          DB_USER DB_PASS DB_NAME TIMEOUT TOKEN_LIFESPAN FORCE_UTS)
for _s in "${SETTINGS[@]}"; do
    unset "GPUHOURS_SLURM_$_s"
    _v=GPUHOURS_SLURM2411_$_s
    if [[ -v $_v ]]; then export "GPUHOURS_SLURM_$_s=${!_v}"; fi
done
export GPUHOURS_SLURM_DIR=${GPUHOURS_SLURM2411_DIR:-$RIG_HOME/state}

# shellcheck source=deploy/slurm/rig.sh
source "$HERE/rig.sh"
PROG=rig2411.sh

TREE_PACKAGES=slurm-wlm,slurmrestd,slurmdbd,munge,mariadb-client,slurm-wlm-jwt-plugin,slurm-wlm-mysql-plugin
WRAPPED=(sacctmgr scontrol squeue scancel sbatch srun salloc sacct sinfo sreport sprio sshare
         slurmdbd slurmctld slurmd slurmrestd munge unmunge munged mungekey mariadb
         setpriv runuser useradd getent)
# both nodes in one partition: two-node jobs and het jobs spanning the nodes
# (het jobs are started by the backfill scheduler only: rig.sh runs it every 2 s)
EXTRA_SLURM_CONF="PartitionName=gpu-all Nodes=a100-node01,h100-node01 MaxTime=120 DefaultTime=30 State=UP TRESBillingWeights=GRES/gpu:a100=2000,GRES/gpu:h100=4000"

# rig.sh's load_settings with this rig's defaults underneath
eval "rig_load_settings() $(declare -f load_settings | tail -n +2)"
load_settings() {
    if [[ -r $DIR/rig.env ]]; then
        # shellcheck disable=SC1091
        source "$DIR/rig.env"
    fi
    : "${GPUHOURS_SLURM_CLUSTER:=enact-2411}"
    : "${GPUHOURS_SLURM_REST_PORT:=6920}"
    : "${GPUHOURS_SLURM_CTLD_PORT:=6917}"
    : "${GPUHOURS_SLURM_DBD_PORT:=6919}"
    : "${GPUHOURS_SLURM_A100_PORT:=6918}"
    : "${GPUHOURS_SLURM_H100_PORT:=6921}"
    : "${GPUHOURS_SLURM_DB_NAME:=gpuhours_slurm_acct_2411}"
    rig_load_settings
    BIN=$DIR/bin
    export PATH=$BIN:$PATH
    if [[ $(id -u) -eq 0 ]] && tree_ready; then write_wrappers; fi
}

# the tree's munge, or none: never the host's munged
munge_ok() { [[ -x $BIN/munge ]] && "$BIN/munge" -n 2>/dev/null | "$BIN/unmunge" >/dev/null 2>&1; }

# --------------------------------------------------------------------------- the tree
tree_ready() { [[ -f $TREE/.gpuhours-rig-2411 && -x $TREE/usr/sbin/slurmctld ]]; }

apt_mirror() { # the first Debian mirror this host's apt sources name
    local m
    m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
            /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -oE 'https?://[^ ]+' | grep -v -- '-security' | head -n1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}

cmd_install() {
    need_root
    if tree_ready; then
        say "tree already built: $TREE ($(cat "$TREE/.gpuhours-rig-2411"))"
        return 0
    fi
    local t0 mirror=${GPUHOURS_SLURM2411_MIRROR:-} tmp=$TREE.tmp
    mirror=${mirror:-$(apt_mirror)}
    t0=$(now_ms)
    if ! command -v debootstrap >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends debootstrap </dev/null ||
            { apt-get update -qq </dev/null && apt-get install -y -qq --no-install-recommends debootstrap </dev/null; } ||
            die "apt-get install debootstrap failed"
    fi
    install -d -m 0755 "$RIG_HOME"
    rm -rf --one-file-system "$tmp"
    say "debootstrap $SUITE from $mirror into $TREE (log: $RIG_HOME/debootstrap.log)"
    debootstrap --variant=minbase --include="$TREE_PACKAGES" "$SUITE" "$tmp" "$mirror" \
        >"$RIG_HOME/debootstrap.log" 2>&1 || { tail -n 20 "$RIG_HOME/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    local version
    version=$(chroot "$tmp" dpkg-query -W -f='${Version}' slurmctld)
    echo "$SUITE slurm $version" >"$tmp/.gpuhours-rig-2411"
    rm -rf --one-file-system "$TREE"
    mv "$tmp" "$TREE"
    say "tree built in $(fmt_s $(($(now_ms) - t0))) s: Slurm $version ($(du -sh "$TREE" | cut -f1))"
}

check_installed() {
    tree_ready || die "no Slurm 24.11 tree at $TREE; run '$PROG install' first"
    command -v unshare >/dev/null 2>&1 && command -v chroot >/dev/null 2>&1 ||
        die "unshare and chroot (util-linux, coreutils) are needed on the host"
}

# $DIR/bin/<cmd>: run <cmd> of the tree, in a private mount namespace, chrooted; exec all the way
write_wrappers() {
    install -d -m 0755 -o root -g root "$DIR" "$BIN"
    install -d -m 0755 "$TREE$DIR"  # mount point: the state dir has the same path inside
    write_if_changed "$BIN/.in-tree" 0755 root:root <<EOF
#!/bin/sh
# generated by deploy/slurm/rig2411.sh: run a command of the Slurm 24.11 tree
[ "\$(id -u)" = 0 ] || { echo "\$0: must run as root" >&2; exit 1; }
exec unshare --mount --propagation private /bin/sh -c '
  t=\$1; s=\$2; shift 2
  mount -t proc proc "\$t/proc" || exit 125
  mount -t sysfs -o ro sysfs "\$t/sys" 2>/dev/null || true
  mount --bind "\$s" "\$t\$s" || exit 125
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin exec chroot "\$t" "\$@"
' in-tree "$TREE" "$DIR" "\${0##*/}" "\$@"
EOF
    local c
    for c in "${WRAPPED[@]}"; do
        [[ -L $BIN/$c ]] || ln -sfn .in-tree "$BIN/$c"
    done
    # the daemons resolve the host name through the tree's files
    local h
    h=$(hostname -s 2>/dev/null || hostname)
    printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$h" |
        write_if_changed "$TREE/etc/hosts" 0644 root:root
}

# Owners inside the tree: its users may have other ids than the host's (munge does), so
# `install -o/-g` and `chown` in rig.sh's code take names and are mapped here.
tree_id() { # passwd|group name
    [[ $2 =~ ^[0-9]+$ ]] && { echo "$2"; return 0; }
    awk -F: -v n="$2" '$1 == n { print $3; found = 1; exit } END { exit !found }' "$TREE/etc/$1" ||
        die "no $1 entry '$2' in $TREE/etc/$1"
}
install() {
    local a=()
    while (($#)); do
        case $1 in
            -o) a+=(-o "$(tree_id passwd "$2")"); shift 2 ;;
            -g) a+=(-g "$(tree_id group "$2")"); shift 2 ;;
            *) a+=("$1"); shift ;;
        esac
    done
    command install "${a[@]}"
}
chown() {
    local spec=$1
    shift
    command chown "$(tree_id passwd "${spec%%:*}"):$(tree_id group "${spec#*:}")" "$@"
}

# munged of the tree: its own key and socket (the tree's /run/munge), never the host's
start_munge() {
    if alive munged; then say "munged already running (pid $(rec_pid munged))"; return 0; fi
    rm -f "$(rec_file munged)"
    local key=$TREE/etc/munge/munge.key r
    if [[ ! -s $key ]]; then
        command install -d -m 0700 "$TREE/etc/munge"
        (umask 077; head -c 1024 /dev/urandom >"$key")
    fi
    chown munge:munge "$TREE/etc/munge" "$key"
    chmod 0400 "$key"
    for r in var/lib/munge var/log/munge run/munge; do
        install -d -m 0755 -o munge -g munge "$TREE/$r"
    done
    chmod 0700 "$TREE/var/log/munge"
    rm -f "$TREE"/run/munge/munge.socket.2 "$TREE"/run/munge/munge.socket.2.lock "$TREE"/run/munge/munged.pid
    launch munged "$LOG/munged.console" setpriv --reuid=munge --regid=munge --init-groups munged -F
    wait_ready munged "munge -n | unmunge" munge_ok
}

check_rest() {
    # A fresh token at every start: slurmctld still takes one minted hours before, but
    # 24.11's slurmdbd refused such a token passed through by slurmrestd ("token expired")
    mint_token "${GPUHOURS_SLURM_TOKEN_LIFESPAN:-86400}"
    say "minted REST token for $SVC_USER -> $TOKEN_FILE"
    local p
    for p in "/slurm/$REST_VERSION/ping" "/slurmdb/$REST_VERSION/associations?cluster=$CLUSTER"; do
        rest_ok "$p" || { log_tail "$LOG/slurmrestd.console"; die "REST check failed: GET $p as $SVC_USER: $(rest_get "$p" | head -c 400)"; }
    done
    say "verified: REST $REST_URL answers with JWT as $SVC_USER"
}

# 24.11 specifics on top of rig.sh's configs
eval "rig_write_configs() $(declare -f write_configs | tail -n +2)"
write_configs() {
    rig_write_configs
    # slurmd 24.11 initialises a cgroup plugin even with proctrack/linuxproc + task/none and
    # fails without /sys/fs/cgroup ("Unable to initialize cgroup plugin"): switch it off
    write_if_changed "$ETC/cgroup.conf" 0644 root:root <<EOF
# generated by deploy/slurm/rig2411.sh -- no cgroups in this rig
CgroupPlugin=disabled
EOF
    # MariaDB Connector/C 3.4 (trixie) requires TLS by default and the host's MariaDB offers
    # none ("SSL is required, but the server does not support it"); slurmdbd's libmariadb reads
    # the [client] group of the tree's option files
    write_if_changed "$TREE/etc/mysql/mariadb.conf.d/90-gpuhours-rig.cnf" 0644 root:root <<EOF
# generated by deploy/slurm/rig2411.sh: the host's MariaDB on 127.0.0.1 has no TLS
[client]
ssl=0
EOF
}

# slurmdbd 24.11 creates a missing database over a connection that ignores the option files,
# so it fails with the TLS error above: create the (empty) database first, with the tree's client
eval "rig_start_slurmdbd() $(declare -f start_slurmdbd | tail -n +2)"
start_slurmdbd() {
    if ! alive slurmdbd; then
        local out pass=()
        [[ -z $GPUHOURS_SLURM_DB_PASS ]] || pass=("-p$GPUHOURS_SLURM_DB_PASS")
        out=$(timeout 20 mariadb --skip-ssl -h "$GPUHOURS_SLURM_DB_HOST" -P "$GPUHOURS_SLURM_DB_PORT" \
                -u "$GPUHOURS_SLURM_DB_USER" "${pass[@]}" \
                -e "CREATE DATABASE IF NOT EXISTS \`$GPUHOURS_SLURM_DB_NAME\`" 2>&1) ||
            die "cannot create MariaDB database $GPUHOURS_SLURM_DB_NAME on $GPUHOURS_SLURM_DB_HOST:$GPUHOURS_SLURM_DB_PORT: $out"
    fi
    rig_start_slurmdbd
}

eval "rig_cmd_start() $(declare -f cmd_start | tail -n +2)"
cmd_start() {
    need_root
    check_installed
    rig_cmd_start "$@"
}

eval "rig_cmd_stop() $(declare -f cmd_stop | tail -n +2)"
cmd_stop() {
    rig_cmd_stop "$@"
    # left in the tree by a munged that was killed: a new one refuses to start with them
    alive munged || rm -f "$TREE"/run/munge/munge.socket.2.lock "$TREE"/run/munge/munged.pid
}

cmd_env() {
    printf 'export GPUHOURS_TEST_SLURM2411=1\n'
    printf 'export GPUHOURS_TEST_SLURM2411_CONF=%q\n' "$SLURM_CONF"
    printf 'export GPUHOURS_TEST_SLURM2411_DIR=%q\n' "$DIR"
    printf 'export GPUHOURS_TEST_SLURM2411_PATH=%q\n' "$BIN"
    printf 'export GPUHOURS_TEST_SLURM2411_URL=%q\n' "$REST_URL"
    printf 'export GPUHOURS_TEST_SLURM2411_USER=%q\n' "$SVC_USER"
    printf 'export GPUHOURS_TEST_SLURM2411_TOKEN_FILE=%q\n' "$TOKEN_FILE"
    printf 'export GPUHOURS_TEST_SLURM2411_JWT_KEY_FILE=%q\n' "$JWT_KEY"
    printf 'export GPUHOURS_TEST_SLURM2411_CLUSTER=%q\n' "$CLUSTER"
}

usage() {
    cat <<EOF
usage: $PROG install | start | stop | status | token [--lifespan SECONDS] | env | reset-jobs
  install     debootstrap a Debian $SUITE tree with Slurm 24.11 into \$GPUHOURS_SLURM2411_TREE (once)
  start       configure and start munged, slurmdbd, slurmctld, 2x slurmd, slurmrestd (idempotent)
  stop        stop exactly what start started (by recorded PID); running jobs survive
  status      daemons, PIDs, alive; exit 0 only if all are up
  token       mint a JWT for the service user into \$DIR/rest.token (0600), print its path
  env         print export lines (GPUHOURS_TEST_SLURM2411_*) for the integration tests
  reset-jobs  cancel all active jobs (accounting history is kept)
Slurm commands of the tree, for a shell: PATH=\$GPUHOURS_TEST_SLURM2411_PATH:\$PATH (as root)
state dir: \$GPUHOURS_SLURM2411_DIR (default $RIG_HOME/state)
EOF
}

main "$@"
