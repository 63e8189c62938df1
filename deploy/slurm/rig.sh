#!/usr/bin/env bash
# gpuhours Slurm dev rig: a real single-machine Slurm 22.05 (Debian 12 packages) with
# accounting (slurmdbd -> MariaDB), two slurmd with fake GPUs and slurmrestd + JWT.
# Every daemon listens on 127.0.0.1 only. See deploy/slurm/README.md.
#
#   rig.sh install | start | stop | status | token [--lifespan S] | env | reset-jobs
#
# Settings (environment; `start` records them in $DIR/rig.env and the other subcommands
# reuse them; an explicitly set variable always wins):
#   GPUHOURS_SLURM_DIR        state dir (configs, JWT key, spool, logs, pids, fake GPUs)
#                             default /var/lib/gpuhours-slurm
#   GPUHOURS_SLURM_CLUSTER    cluster name, default enact-dev
#   GPUHOURS_SLURM_REST_PORT  slurmrestd port, default 6820
#   GPUHOURS_SLURM_CTLD_PORT / _DBD_PORT / _A100_PORT / _H100_PORT  6817 / 6819 / 6818 / 6821
#   GPUHOURS_SLURM_SVC_USER   service (REST client) user, default gpuhours
#   GPUHOURS_SLURM_DB_HOST / _DB_PORT / _DB_USER / _DB_PASS / _DB_NAME
#                             MariaDB for slurmdbd, default 127.0.0.1 / 3306 / root / "" / gpuhours_slurm_acct
#   GPUHOURS_SLURM_TIMEOUT    seconds to wait for each daemon, default 60
#   GPUHOURS_SLURM_TOKEN_LIFESPAN  default JWT lifespan in seconds, default 86400
#   GPUHOURS_SLURM_FORCE_UTS=1     run the daemons in a UTS namespace with hostname "localhost"
#                             (automatic when `hostname` does not resolve to 127.x)
set -euo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

PROG=rig.sh
DIR="${GPUHOURS_SLURM_DIR:-/var/lib/gpuhours-slurm}"

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }

PACKAGES=(slurmctld slurmd slurmdbd slurmrestd slurm-client slurm-wlm-basic-plugins
          slurm-wlm-mysql-plugin slurm-wlm-jwt-plugin munge
          util-linux iproute2 curl passwd)

# daemon names, in start order (munged is handled separately: it may be the system's)
NODES=(a100-node01 h100-node01)
SLURM_DAEMONS=(slurmdbd slurmctld slurmd-a100-node01 slurmd-h100-node01 slurmrestd)

# --------------------------------------------------------------------------- settings
load_settings() {
    # explicit environment > $DIR/rig.env (written by start) > defaults
    if [[ -r "$DIR/rig.env" ]]; then
        # shellcheck disable=SC1091
        source "$DIR/rig.env"
    fi
    : "${GPUHOURS_SLURM_CLUSTER:=enact-dev}"
    : "${GPUHOURS_SLURM_REST_PORT:=6820}"
    : "${GPUHOURS_SLURM_CTLD_PORT:=6817}"
    : "${GPUHOURS_SLURM_DBD_PORT:=6819}"
    : "${GPUHOURS_SLURM_A100_PORT:=6818}"
    : "${GPUHOURS_SLURM_H100_PORT:=6821}"
    : "${GPUHOURS_SLURM_SVC_USER:=gpuhours}"
    : "${GPUHOURS_SLURM_DB_HOST:=127.0.0.1}"
    : "${GPUHOURS_SLURM_DB_PORT:=3306}"
    : "${GPUHOURS_SLURM_DB_USER:=root}"
    : "${GPUHOURS_SLURM_DB_PASS:=}"
    : "${GPUHOURS_SLURM_DB_NAME:=gpuhours_slurm_acct}"
    : "${GPUHOURS_SLURM_TIMEOUT:=60}"
    CLUSTER=$GPUHOURS_SLURM_CLUSTER
    REST_PORT=$GPUHOURS_SLURM_REST_PORT
    CTLD_PORT=$GPUHOURS_SLURM_CTLD_PORT
    DBD_PORT=$GPUHOURS_SLURM_DBD_PORT
    declare -gA NODE_PORT=([a100-node01]=$GPUHOURS_SLURM_A100_PORT [h100-node01]=$GPUHOURS_SLURM_H100_PORT)
    SVC_USER=$GPUHOURS_SLURM_SVC_USER
    TIMEOUT=$GPUHOURS_SLURM_TIMEOUT
    [[ $CLUSTER =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "GPUHOURS_SLURM_CLUSTER must be lower-case [a-z0-9_-] (got '$CLUSTER')"
    for p in "$REST_PORT" "$CTLD_PORT" "$DBD_PORT" "${NODE_PORT[@]}"; do
        [[ $p =~ ^[0-9]+$ ]] || die "ports must be numeric (got '$p')"
    done
    [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "GPUHOURS_SLURM_TIMEOUT must be a number of seconds"

    ETC=$DIR/etc
    export SLURM_CONF=$ETC/slurm.conf
    JWT_KEY=$ETC/jwt_hs256.key
    LOG=$DIR/log
    RUN=$DIR/run          # pid files written by the daemons themselves
    PIDS=$DIR/pids        # "PID STARTTIME" of what this script started
    SPOOL=$DIR/spool
    GPUDEV=$DIR/fakegpu
    TOKEN_FILE=$DIR/rest.token
    REST_URL=http://127.0.0.1:$REST_PORT
    # client commands must use munge, never a JWT from the caller's environment
    unset SLURM_JWT SLURMRESTD_LISTEN || true
}

save_settings() {
    local v tmp=$DIR/rig.env.tmp
    {
        echo "# written by $PROG start; explicit environment variables override these"
        for v in GPUHOURS_SLURM_CLUSTER GPUHOURS_SLURM_REST_PORT GPUHOURS_SLURM_CTLD_PORT \
                 GPUHOURS_SLURM_DBD_PORT GPUHOURS_SLURM_A100_PORT GPUHOURS_SLURM_H100_PORT \
                 GPUHOURS_SLURM_SVC_USER GPUHOURS_SLURM_DB_HOST GPUHOURS_SLURM_DB_PORT \
                 GPUHOURS_SLURM_DB_USER GPUHOURS_SLURM_DB_PASS GPUHOURS_SLURM_DB_NAME; do
            printf '[[ -v %s ]] || %s=%q\n' "$v" "$v" "${!v}"
        done
    } >"$tmp"
    chmod 0600 "$tmp"
    mv -f "$tmp" "$DIR/rig.env"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
fmt_s() { printf '%d.%01d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }

# --------------------------------------------------------------------------- processes
# /proc/PID/stat -> "STATE STARTTIME" (comm may contain spaces/parens: cut after the last ')')
proc_stat() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo "$1 ${20}"
}

# a PID is alive if it exists, is not a zombie (PID 1 may reap lazily) and, when given,
# still has the recorded start time (guards against PID reuse)
pid_alive() {
    local st
    st=$(proc_stat "$1") || return 1
    [[ ${st%% *} != Z ]] || return 1
    [[ -z ${2:-} || ${st#* } == "$2" ]]
}

rec_file() { echo "$PIDS/$1.pid"; }
rec_pid() { local f; f=$(rec_file "$1"); [[ -r $f ]] && awk '{print $1; exit}' "$f"; }

alive() { # name -> true if the process we recorded for it runs
    local f pid start
    f=$(rec_file "$1")
    [[ -r $f ]] || return 1
    read -r pid start <"$f" || return 1
    [[ -n $pid ]] && pid_alive "$pid" "$start"
}

our_pids() {
    local n
    for n in munged "${SLURM_DAEMONS[@]}"; do
        alive "$n" && rec_pid "$n"
    done
    return 0
}

# launch NAME CONSOLE_LOG CMD... : start CMD from / in its own session, stdin from /dev/null,
# stdout+stderr to CONSOLE_LOG, no inherited fds; CMD must exec (setpriv/env/unshare do),
# so $! is the daemon's PID. Records "PID STARTTIME".
launch() {
    local name=$1 console=$2 pid st
    shift 2
    (
        cd /
        for fd in "/proc/$BASHPID/fd/"*; do
            fd=${fd##*/}
            if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2 && fd != 255)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec setsid "$@" </dev/null >>"$console" 2>&1
    ) &
    pid=$!
    st=$(proc_stat "$pid") || die "$name exited immediately; see $console"
    echo "$pid ${st#* }" >"$(rec_file "$name")"
    LAUNCHED+=("$name")
}

log_tail() { # files...
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "---- last lines of $f:" >&2
        tail -n 15 "$f" >&2
    done
}

daemon_logs() {
    case $1 in
        munged) echo "$LOG/munged.console /var/log/munge/munged.log" ;;
        slurmdbd) echo "$LOG/slurmdbd.console $LOG/slurmdbd.log" ;;
        slurmctld) echo "$LOG/slurmctld.console $LOG/slurmctld.log" ;;
        slurmd-*) echo "$LOG/${1}.console $LOG/${1}.log" ;;
        slurmrestd) echo "$LOG/slurmrestd.console" ;;
    esac
}

fail_daemon() { # name message
    local name=$1 msg=$2 last f
    # shellcheck disable=SC2046
    log_tail $(daemon_logs "$name")
    # quote the daemon's last real error in the one-line message (skip the harmless PMIx noise)
    for f in $(daemon_logs "$name"); do
        [[ -s $f ]] || continue
        last=$(grep -E 'error|fatal' "$f" | grep -vE 'pmix|MPI|Trying again' | tail -n1 || true)
        [[ -n $last ]] && break
    done
    die "$name: $msg${last:+; last log error: ${last#*] }}"
}

# wait_ready NAME DESCRIPTION CMD... : poll CMD until it succeeds; fail if the process dies
# or after $TIMEOUT seconds
wait_ready() {
    local name=$1 desc=$2 t0 deadline
    shift 2
    t0=$(now_ms)
    deadline=$((t0 + TIMEOUT * 1000))
    while :; do
        if "$@" >/dev/null 2>&1; then
            say "$name up ($(fmt_s $(($(now_ms) - t0))) s)"
            return 0
        fi
        if ! alive "$name"; then
            fail_daemon "$name" "process exited while waiting for: $desc"
        fi
        # errors the daemon would retry forever (e.g. wrong DB credentials): fail now
        if [[ -n ${FAIL_PAT:-} && -r ${FAIL_LOG:-} ]] &&
            tail -c +$((FAIL_OFF + 1)) "$FAIL_LOG" 2>/dev/null | grep -qE "$FAIL_PAT"; then
            fail_daemon "$name" "$desc failed"
        fi
        if (($(now_ms) >= deadline)); then
            fail_daemon "$name" "not ready after ${TIMEOUT}s: $desc"
        fi
        sleep 0.1
    done
}

# --------------------------------------------------------------------------- install
cmd_install() {
    need_root
    local missing=() p t0
    for p in "${PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == ii* ]] || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "all packages already installed"
        return 0
    fi
    t0=$(now_ms)
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" </dev/null \
        || die "apt-get install failed"
    say "installed in $(fmt_s $(($(now_ms) - t0))) s"
}

check_installed() {
    local b
    for b in slurmctld slurmd slurmdbd slurmrestd sacctmgr scontrol munged munge unmunge setpriv ss curl useradd; do
        command -v "$b" >/dev/null 2>&1 || die "'$b' not found; run '$PROG install' first"
    done
}

# --------------------------------------------------------------------------- configuration
# bump when slurm.conf or the seeded accounting changes: a running rig is restarted by start
CONFIG_GENERATION=3
write_if_changed() { # path mode owner:group  (content on stdin)
    local path=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp "$path.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        chmod "$mode" "$path"
        chown "$owner" "$path"
    else
        mv -f "$tmp" "$path"
    fi
}

ensure_user() { # name system|regular
    local u=$1 kind=$2
    getent passwd "$u" >/dev/null && return 0
    if [[ $kind == system ]]; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$u" \
            || die "useradd $u failed"
    else
        useradd --no-create-home --shell /bin/bash --user-group "$u" || die "useradd $u failed"
    fi
    say "created unix user $u"
}

# The daemons bind to what `hostname` resolves to (NoInAddrAny/NoCtldInAddrAny). If that is
# not loopback (typical in Docker: hostname -> 172.x), run them in a private UTS namespace
# whose hostname is "localhost".
choose_host_mode() {
    local h addr
    h=$(hostname -s 2>/dev/null || hostname)
    addr=$(getent ahostsv4 "$h" 2>/dev/null | awk 'NR==1{print $1}')
    if [[ ${GPUHOURS_SLURM_FORCE_UTS:-0} != 1 && $addr == 127.* ]]; then
        HOST_MODE=plain
        CTLD_HOSTNAME=$h
        HOST_WRAP=()
        return 0
    fi
    if ! unshare --uts true 2>/dev/null; then
        die "hostname '$h' resolves to '${addr:-nothing}', not loopback, and 'unshare --uts' is not permitted; add '127.0.0.1 $h' to /etc/hosts"
    fi
    [[ $(getent ahostsv4 localhost | awk 'NR==1{print $1}') == 127.* ]] \
        || die "'localhost' does not resolve to 127.x; fix /etc/hosts"
    HOST_MODE=uts
    CTLD_HOSTNAME=localhost
    # prefix for the daemons that bind TCP sockets (sh exec()s, so the PID stays the daemon's)
    # shellcheck disable=SC2016 # expanded by sh, not here
    HOST_WRAP=(unshare --uts sh -c 'hostname localhost && exec "$0" "$@"')
}


prepare_dirs() {
    install -d -m 0755 -o root -g root "$DIR" "$ETC" "$RUN" "$GPUDEV" "$SPOOL"
    install -d -m 0700 -o root -g root "$PIDS"
    install -d -m 0755 -o slurm -g slurm "$LOG"
    install -d -m 0700 -o slurm -g slurm "$SPOOL/ctld-$CLUSTER"
    local n
    for n in "${NODES[@]}"; do install -d -m 0755 -o root -g root "$SPOOL/d-$n"; done
    for n in slurmctld.log slurmdbd.log; do
        [[ -e $LOG/$n ]] || install -m 0640 -o slurm -g slurm /dev/null "$LOG/$n"
    done

    # JWT HS256 key: printable, no trailing newline (the file's bytes are the key)
    if [[ ! -s $JWT_KEY ]]; then
        (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$JWT_KEY")
        say "generated JWT key $JWT_KEY"
    fi
    chown slurm:slurm "$JWT_KEY"
    chmod 0600 "$JWT_KEY"

    # fake GPUs: character devices with the NVIDIA major (195), outside /dev
    local i dev
    for i in 0 1 2 3 4 5 6 7; do
        dev=$GPUDEV/nvidia$i
        [[ -c $dev ]] && continue
        rm -f "$dev"
        if ! mknod -m 0666 "$dev" c 195 "$i" 2>/dev/null; then
            warn "mknod $dev failed; using a plain file (slurmd will log a harmless gres.conf error)"
            install -m 0666 /dev/null "$dev"
        fi
    done
}

write_configs() {
    local h=$CTLD_HOSTNAME
    {
        cat <<EOF
# generated by deploy/slurm/rig.sh -- do not edit (rewritten on every start)
# single machine, two fake-GPU nodes (two slurmd on one host), everything on 127.0.0.1
ClusterName=$CLUSTER
SlurmctldHost=$h(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=${NODE_PORT[a100-node01]}
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
StateSaveLocation=$SPOOL/ctld-$CLUSTER
SlurmdSpoolDir=$SPOOL/d-%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: /proc based process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
MpiDefault=none
SwitchType=switch/none
# bind to what the hostname resolves to (127.0.0.1) instead of 0.0.0.0
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu,gres/gpu:a100,gres/gpu:h100
# what enforcement needs (README, "Enforcement"): limits on associations and QOS, and 'safe':
# a job starts only if it can finish inside its account's GrpTRESMins budget
AccountingStorageEnforce=associations,limits,safe
JobCompType=jobcomp/none
MailProg=/bin/true
GresTypes=gpu
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# backfill every 2 s (not 30), a full pass every 5 s (not 60): a job held by a limit starts
# soon after the limit is raised
SchedulerParameters=bf_interval=2,sched_interval=5
# GrpTRESMins is enforced only with the multifactor plugin, and stays a budget only without
# decay or periodic reset (gpuhours resets RawUsage itself at a period's start)
PriorityType=priority/multifactor
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
PriorityCalcPeriod=1
PriorityWeightQOS=1000
# advertise the CPUs/RealMemory below whatever the machine has
SlurmdParameters=config_overrides
ReturnToService=2
DefMemPerCPU=256
MinJobAge=3600
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=60
SlurmdTimeout=120
NodeName=a100-node01 NodeHostname=a100-node01 NodeAddr=127.0.0.1 Port=${NODE_PORT[a100-node01]} CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=8000 Gres=gpu:a100:4 State=UNKNOWN
NodeName=h100-node01 NodeHostname=h100-node01 NodeAddr=127.0.0.1 Port=${NODE_PORT[h100-node01]} CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=8000 Gres=gpu:h100:4 State=UNKNOWN
PartitionName=gpu-a100 Nodes=a100-node01 Default=YES MaxTime=120 DefaultTime=30 State=UP TRESBillingWeights=GRES/gpu:a100=2000
PartitionName=gpu-h100 Nodes=h100-node01 MaxTime=120 DefaultTime=30 State=UP TRESBillingWeights=GRES/gpu:h100=4000
EOF
        # lines a rig built on this script adds (deploy/slurm/rig2411.sh: a two-node partition)
        if [[ -n ${EXTRA_SLURM_CONF:-} ]]; then printf '%s\n' "$EXTRA_SLURM_CONF"; fi
    } | write_if_changed "$ETC/slurm.conf" 0644 root:root

    write_if_changed "$ETC/gres.conf" 0644 root:root <<EOF
# generated by deploy/slurm/rig.sh -- fake GPUs: char devices c 195 N, nothing behind them
NodeName=a100-node01 Name=gpu Type=a100 File=$GPUDEV/nvidia[0-3]
NodeName=h100-node01 Name=gpu Type=h100 File=$GPUDEV/nvidia[4-7]
EOF

    # slurmdbd reads slurmdbd.conf next to \$SLURM_CONF; must be owned by SlurmUser, mode 0600
    {
        cat <<EOF
# generated by deploy/slurm/rig.sh -- do not edit (rewritten on every start)
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
CommunicationParameters=NoInAddrAny
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=$GPUHOURS_SLURM_DB_HOST
StoragePort=$GPUHOURS_SLURM_DB_PORT
StorageUser=$GPUHOURS_SLURM_DB_USER
StorageLoc=$GPUHOURS_SLURM_DB_NAME
EOF
        [[ -z $GPUHOURS_SLURM_DB_PASS ]] || echo "StoragePass=$GPUHOURS_SLURM_DB_PASS"
    } | write_if_changed "$ETC/slurmdbd.conf" 0600 slurm:slurm
}

# --------------------------------------------------------------------------- readiness checks
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
dbd_ok() { timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
ctld_ok() { local o; o=$(timeout 10 scontrol ping 2>/dev/null) && [[ $o == *" is UP"* ]]; }
# node registered by the slurmd we just started (SlurmdStartTime >= launch time) and usable
node_ok() { # node launch_epoch
    local o st started
    o=$(timeout 10 scontrol -o show node "$1" 2>/dev/null) || return 1
    st=$(sed -n 's/.* State=\([^ ]*\).*/\1/p' <<<"$o")
    started=$(sed -n 's/.* SlurmdStartTime=\([^ ]*\).*/\1/p' <<<"$o")
    [[ -n $st && -n $started && $started != None ]] || return 1
    [[ $st =~ (IDLE|MIXED|ALLOCATED|COMPLETING) && ! $st =~ (DOWN|DRAIN|FAIL|NOT_RESPONDING|UNKNOWN|INVAL) ]] || return 1
    (($(date -d "$started" +%s) >= $2 - 1))
}
rest_answers() { # any HTTP answer (401 without token) means it is serving
    local c
    c=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$REST_URL/openapi/v3" 2>/dev/null) || true
    [[ $c =~ ^[1-5][0-9][0-9]$ ]]
}

port_owner() { # port -> "pid comm" of a listener on it, empty if free
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\2 \1/p' | head -n1
}

check_port_free() { # name port
    local o pid
    o=$(port_owner "$2")
    [[ -z $o ]] && return 0
    pid=${o%% *}
    if ! grep -qx "$pid" <<<"$(our_pids)"; then
        die "port $2 (for $1) is already in use by pid $pid (${o#* }); stop it or set the GPUHOURS_SLURM_*_PORT variables"
    fi
}

check_loopback_only() {
    local ours line laddr pid bad=()
    ours=$(our_pids)
    local ports=" $REST_PORT $CTLD_PORT $DBD_PORT ${NODE_PORT[*]} "
    while read -r line; do
        [[ -n $line ]] || continue
        laddr=$(awk '{print $4}' <<<"$line")
        pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line")
        if grep -qx "${pid:-x}" <<<"$ours" || [[ $ports == *" ${laddr##*:} "* ]]; then
            case $laddr in
                127.*:* | \[::1\]:* | \[::ffff:127.*\]:*) ;;
                *) bad+=("$laddr(pid ${pid:-?})") ;;
            esac
        fi
    done < <(ss -Hltnp 2>/dev/null; ss -Hlunp 2>/dev/null)
    ((${#bad[@]} == 0)) || die "rig listens off loopback: ${bad[*]}"
    say "verified: every socket of the rig listens on loopback only"
}

# --------------------------------------------------------------------------- start
start_munge() {
    if alive munged; then
        say "munged already running (pid $(rec_pid munged), started by rig)"
        return 0
    fi
    rm -f "$(rec_file munged)"
    if munge_ok; then
        say "using the munged that is already running (not started by rig; stop leaves it alone)"
        return 0
    fi
    local key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        [[ -d /etc/munge ]] || install -d -m 0700 -o munge -g munge /etc/munge
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$key" || die "mungekey failed"
        else
            (umask 077; head -c 1024 /dev/urandom >"$key")
        fi
        chown munge:munge "$key"
        chmod 0400 "$key"
        say "generated $key"
    fi
    # create what is missing (the munge package makes all but /run/munge); leave existing modes
    [[ -d /var/lib/munge ]] || install -d -m 0711 -o munge -g munge /var/lib/munge
    [[ -d /var/log/munge ]] || install -d -m 0700 -o munge -g munge /var/log/munge
    [[ -d /run/munge ]] || install -d -m 0755 -o munge -g munge /run/munge
    # a stale socket/lock from a killed munged makes a new one refuse to start
    if [[ -e /run/munge/munged.pid ]] && ! pid_alive "$(cat /run/munge/munged.pid 2>/dev/null || echo 0)"; then
        rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
    fi
    launch munged "$LOG/munged.console" setpriv --reuid=munge --regid=munge --init-groups munged -F
    wait_ready munged "munge -n | unmunge" munge_ok
}

start_slurmdbd() {
    if alive slurmdbd; then say "slurmdbd already running (pid $(rec_pid slurmdbd))"; return 0; fi
    check_port_free slurmdbd "$DBD_PORT"
    if ! timeout 5 bash -c "exec 3<>/dev/tcp/$GPUHOURS_SLURM_DB_HOST/$GPUHOURS_SLURM_DB_PORT" 2>/dev/null; then
        die "MariaDB/MySQL not reachable on $GPUHOURS_SLURM_DB_HOST:$GPUHOURS_SLURM_DB_PORT (slurmdbd needs it; set GPUHOURS_SLURM_DB_*)"
    fi
    FAIL_LOG=$LOG/slurmdbd.log
    FAIL_OFF=$(stat -c %s "$FAIL_LOG" 2>/dev/null || echo 0)
    FAIL_PAT='mysql_real_connect failed|fatal'
    launch slurmdbd "$LOG/slurmdbd.console" "${HOST_WRAP[@]}" slurmdbd -D
    wait_ready slurmdbd "sacctmgr show cluster" dbd_ok
    FAIL_PAT=
}

start_slurmctld() {
    if alive slurmctld; then say "slurmctld already running (pid $(rec_pid slurmctld))"; return 0; fi
    check_port_free slurmctld "$CTLD_PORT"
    launch slurmctld "$LOG/slurmctld.console" "${HOST_WRAP[@]}" slurmctld -D
    wait_ready slurmctld "scontrol ping" ctld_ok
}

start_slurmd() { # node
    local n=$1 name=slurmd-$1 t
    if alive "$name"; then say "$name already running (pid $(rec_pid "$name"))"; return 0; fi
    check_port_free "$name" "${NODE_PORT[$n]}"
    t=$(date +%s)
    launch "$name" "$LOG/$name.console" "${HOST_WRAP[@]}" slurmd -D -N "$n"
    wait_ready "$name" "node $n registered and idle/allocated" node_ok "$n" "$t"
}

start_slurmrestd() {
    if alive slurmrestd; then say "slurmrestd already running (pid $(rec_pid slurmrestd))"; return 0; fi
    check_port_free slurmrestd "$REST_PORT"
    # slurmrestd refuses root and SlurmUser: run it as a dedicated user; setpriv exec()s, so
    # the recorded PID is slurmrestd's
    launch slurmrestd "$LOG/slurmrestd.console" env SLURM_JWT=daemon SLURM_CONF="$SLURM_CONF" \
        setpriv --reuid=slurmrestd --regid=slurmrestd --init-groups \
        slurmrestd -a rest_auth/jwt "127.0.0.1:$REST_PORT"
    wait_ready slurmrestd "HTTP answer on $REST_URL" rest_answers
}

# ---- accounting tree (idempotent)
ASSOC_CACHE=""
refresh_assoc() {
    ASSOC_CACHE=$(timeout 20 sacctmgr -n -P show assoc cluster="$CLUSTER" format=account,user) \
        || die "sacctmgr show assoc failed"
}
has_account_assoc() { grep -qx "$1|" <<<"$ASSOC_CACHE"; }
has_user_assoc() { grep -qx "$1|$2" <<<"$ASSOC_CACHE"; }

sam() { # sacctmgr -i ..., fail loudly
    local out
    if ! out=$(timeout 30 sacctmgr -i "$@" 2>&1); then
        echo "$out" >&2
        die "sacctmgr $* failed"
    fi
}

seed_accounting() {
    local t0 changed=0
    t0=$(now_ms)
    refresh_assoc
    if [[ -z $ASSOC_CACHE ]]; then
        # no associations on this cluster: first start (or the cluster was deleted)
        if ! grep -qx "$CLUSTER" <<<"$(timeout 20 sacctmgr -n -P show cluster format=cluster)"; then
            sam add cluster "$CLUSTER"
            changed=1
        fi
        refresh_assoc
    fi
    # accounts: one sacctmgr call per parent (each add costs ~0.6 s of DB commits)
    local parent acct p names
    for parent in root chair-nlp chair-health; do
        names=()
        for acct in chair-nlp:root chair-health:root proj-thesis-01:chair-nlp proj-rnd-01:chair-health; do
            p=${acct#*:}
            acct=${acct%%:*}
            [[ $p == "$parent" ]] || continue
            has_account_assoc "$acct" || names+=("$acct")
        done
        ((${#names[@]})) || continue
        sam add account "$(IFS=,; echo "${names[*]}")" cluster="$CLUSTER" parent="$parent" organization=gpuhours-dev
        changed=1
        refresh_assoc
    done
    # users: one call per user, with the associations it still lacks
    local entry user def accts a missing
    for entry in alice:chair-nlp:chair-nlp,proj-thesis-01 \
                 bob:chair-health:chair-health,proj-rnd-01 \
                 carol:chair-nlp:chair-nlp,chair-health,proj-rnd-01; do
        IFS=: read -r user def accts <<<"$entry"
        ensure_user "$user" regular
        missing=()
        for a in ${accts//,/ }; do
            has_user_assoc "$a" "$user" || missing+=("$a")
        done
        ((${#missing[@]})) || continue
        sam add user "$user" cluster="$CLUSTER" account="$(IFS=,; echo "${missing[*]}")" defaultaccount="$def"
        changed=1
    done
    seed_qos && changed=1
    # service user for the REST client: may read every job (Operator), no project account
    if ! has_user_assoc root "$SVC_USER"; then
        sam add user "$SVC_USER" cluster="$CLUSTER" account=root defaultaccount=root adminlevel=Operator
        changed=1
    fi
    if [[ $(timeout 20 sacctmgr -n -P show user "$SVC_USER" format=adminlevel) != Operator ]]; then
        sam modify user where name="$SVC_USER" set adminlevel=Operator
        changed=1
    fi
    if ((changed)); then
        say "accounting tree seeded for cluster $CLUSTER ($(fmt_s $(($(now_ms) - t0))) s)"
    else
        say "accounting tree already present ($(fmt_s $(($(now_ms) - t0))) s)"
    fi
}

# the QOS ladder enforcement writes (README, "Enforcement"): normal ranks above grace, and
# blocked runs nothing (GrpJobs=0: its jobs stay pending, held by the QOS limit)
seed_qos() { # -> 0 if it changed something
    local have did=1
    have=$(timeout 20 sacctmgr -n -P show qos format=name,priority,grpjobs)
    if ! grep -qx 'normal|100|' <<<"$have"; then
        sam modify qos where name=normal set priority=100
        did=0
    fi
    if ! grep -q '^gpuhours-grace|' <<<"$have"; then
        sam add qos gpuhours-grace priority=0
        did=0
    fi
    if ! grep -q '^gpuhours-blocked|' <<<"$have"; then
        sam add qos gpuhours-blocked priority=0 grpjobs=0
        did=0
    fi
    return $did
}

mint_token() { # lifespan -> writes $TOKEN_FILE
    local out tok tmp
    out=$(timeout 20 scontrol token username="$SVC_USER" lifespan="$1" 2>&1) \
        || die "scontrol token failed: $out"
    tok=${out##*SLURM_JWT=}
    tok=${tok%%[[:space:]]*}
    [[ $tok =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || die "unexpected scontrol token output: $out"
    tmp=$(mktemp "$TOKEN_FILE.XXXXXX")
    chmod 0600 "$tmp"
    printf '%s' "$tok" >"$tmp"
    mv -f "$tmp" "$TOKEN_FILE"
}

rest_get() { # path -> body (fails on transport errors)
    curl -s -m 20 -H "X-SLURM-USER-NAME: $SVC_USER" -H "X-SLURM-USER-TOKEN: $(cat "$TOKEN_FILE")" \
        "$REST_URL$1"
}
rest_ok() { # path: JSON with an empty errors[]
    local body
    body=$(rest_get "$1") || return 1
    [[ $(tr -d ' \n\t\r' <<<"$body") == *'"errors":[]'* ]]
}

check_rest() {
    if [[ ! -s $TOKEN_FILE ]] || ! rest_ok /slurm/v0.0.38/ping; then
        mint_token "${GPUHOURS_SLURM_TOKEN_LIFESPAN:-86400}"
        say "minted REST token for $SVC_USER -> $TOKEN_FILE"
    fi
    local p
    for p in /slurm/v0.0.38/ping "/slurmdb/v0.0.38/associations?cluster=$CLUSTER"; do
        rest_ok "$p" || { log_tail "$LOG/slurmrestd.console"; die "REST check failed: GET $p as $SVC_USER: $(rest_get "$p" | head -c 400)"; }
    done
    say "verified: REST $REST_URL answers with JWT as $SVC_USER"
}

all_up() {
    local n
    for n in "${SLURM_DAEMONS[@]}"; do alive "$n" || return 1; done
    alive munged || munge_ok
}

# names launched by this invocation of start; stopped again if start fails
LAUNCHED=()
START_OK=0
on_start_exit() {
    ((START_OK)) && return 0
    ((${#LAUNCHED[@]})) || return 0
    echo "$PROG: start failed; stopping what this start launched: ${LAUNCHED[*]}" >&2
    local n order=(slurmrestd slurmd-a100-node01 slurmd-h100-node01 slurmctld slurmdbd munged)
    for n in "${order[@]}"; do
        [[ " ${LAUNCHED[*]} " == *" $n "* ]] && stop_one_group "$n" >/dev/null 2>&1 || true
    done
}

cmd_start() {
    need_root
    check_installed
    local t0
    t0=$(now_ms)
    if all_up; then
        if [[ $(cat "$DIR/config.generation" 2>/dev/null) == "$CONFIG_GENERATION" ]]; then
            say "already running (cluster $CLUSTER, REST $REST_URL)"
            return 0
        fi
        say "the rig's configuration changed (generation $CONFIG_GENERATION): restarting it"
        cmd_stop
    fi
    trap on_start_exit EXIT
    getent passwd slurm >/dev/null || die "unix user 'slurm' missing (the slurm packages create it); run '$PROG install'"
    getent passwd munge >/dev/null || die "unix user 'munge' missing; run '$PROG install'"
    ensure_user slurmrestd system
    ensure_user "$SVC_USER" system
    choose_host_mode
    prepare_dirs
    write_configs
    save_settings

    # fail before launching anything if a port we need is taken by someone else
    alive slurmdbd || check_port_free slurmdbd "$DBD_PORT"
    alive slurmctld || check_port_free slurmctld "$CTLD_PORT"
    alive slurmd-a100-node01 || check_port_free slurmd-a100-node01 "${NODE_PORT[a100-node01]}"
    alive slurmd-h100-node01 || check_port_free slurmd-h100-node01 "${NODE_PORT[h100-node01]}"
    alive slurmrestd || check_port_free slurmrestd "$REST_PORT"

    start_munge
    start_slurmdbd
    seed_accounting
    start_slurmctld
    local n
    for n in "${NODES[@]}"; do start_slurmd "$n"; done
    start_slurmrestd
    check_rest
    check_loopback_only
    echo "$CONFIG_GENERATION" >"$DIR/config.generation"
    START_OK=1
    say "started in $(fmt_s $(($(now_ms) - t0))) s (cluster $CLUSTER, host mode $HOST_MODE, state $DIR)"
    say "use it:  eval \"\$(bash $0 env)\""
}

# --------------------------------------------------------------------------- stop / status
stop_one_group() { # names... : TERM all, wait until gone (zombie = gone), then KILL
    local n pid names=() deadline
    for n in "$@"; do
        if alive "$n"; then
            pid=$(rec_pid "$n")
            kill -TERM "$pid" 2>/dev/null || true
            names+=("$n")
        else
            rm -f "$(rec_file "$n")"
        fi
    done
    ((${#names[@]})) || return 0
    deadline=$(($(now_ms) + 30000))
    while :; do
        local left=()
        for n in "${names[@]}"; do alive "$n" && left+=("$n"); done
        ((${#left[@]})) || break
        if (($(now_ms) >= deadline)); then
            for n in "${left[@]}"; do
                warn "$n (pid $(rec_pid "$n")) ignored SIGTERM for 30 s; sending SIGKILL"
                kill -KILL "$(rec_pid "$n")" 2>/dev/null || true
            done
            local d2=$(($(now_ms) + 10000))
            while (($(now_ms) < d2)); do
                local still=0
                for n in "${left[@]}"; do alive "$n" && still=1; done
                ((still)) || break
                sleep 0.1
            done
            for n in "${left[@]}"; do alive "$n" && die "$n (pid $(rec_pid "$n")) does not die"; done
            break
        fi
        sleep 0.05
    done
    for n in "${names[@]}"; do
        say "stopped $n"
        rm -f "$(rec_file "$n")"
    done
}

cmd_stop() {
    need_root
    local t0
    t0=$(now_ms)
    if [[ -z $(our_pids) ]]; then
        rm -f "$PIDS"/*.pid 2>/dev/null || true
        say "not running"
        return 0
    fi
    # REST first, then the nodes (running jobs' slurmstepd survive), the controller (it saves
    # its state and flushes accounting to slurmdbd), slurmdbd, and munged only if we started it
    stop_one_group slurmrestd slurmd-a100-node01 slurmd-h100-node01
    stop_one_group slurmctld
    stop_one_group slurmdbd
    stop_one_group munged
    say "stopped in $(fmt_s $(($(now_ms) - t0))) s"
}

cmd_status() {
    local n all=0 pid
    printf '%-20s %-8s %s\n' DAEMON PID STATE
    if alive munged; then
        printf '%-20s %-8s %s\n' munged "$(rec_pid munged)" "up (started by rig)"
    elif munge_ok; then
        printf '%-20s %-8s %s\n' munged - "up (external, not started by rig)"
    else
        printf '%-20s %-8s %s\n' munged - down
        all=1
    fi
    for n in "${SLURM_DAEMONS[@]}"; do
        pid=$(rec_pid "$n" || true)
        if alive "$n"; then
            printf '%-20s %-8s %s\n' "$n" "$pid" up
        else
            printf '%-20s %-8s %s\n' "$n" "${pid:--}" down
            all=1
        fi
    done
    echo "cluster=$CLUSTER rest=$REST_URL dir=$DIR"
    return $all
}

# --------------------------------------------------------------------------- token / env / reset-jobs
cmd_token() {
    need_root
    local lifespan=${GPUHOURS_SLURM_TOKEN_LIFESPAN:-86400}
    while (($#)); do
        case $1 in
            --lifespan) [[ $# -ge 2 ]] || die "--lifespan needs a value"; lifespan=$2; shift 2 ;;
            --lifespan=*) lifespan=${1#*=}; shift ;;
            *) die "token: unknown argument '$1'" ;;
        esac
    done
    # 'infinite' is silently ignored by scontrol (you get 1800 s): insist on seconds
    [[ $lifespan =~ ^[0-9]+$ && $lifespan -gt 0 ]] || die "--lifespan must be a positive number of seconds (got '$lifespan')"
    alive slurmctld || ctld_ok || die "slurmctld is not running; run '$PROG start' first"
    mint_token "$lifespan"
    echo "$TOKEN_FILE"
}

cmd_env() {
    printf 'export SLURM_CONF=%q\n' "$SLURM_CONF"
    echo "export GPUHOURS_TEST_SLURM=1"
    printf 'export GPUHOURS_TEST_SLURM_URL=%q\n' "$REST_URL"
    printf 'export GPUHOURS_TEST_SLURM_USER=%q\n' "$SVC_USER"
    printf 'export GPUHOURS_TEST_SLURM_TOKEN_FILE=%q\n' "$TOKEN_FILE"
    printf 'export GPUHOURS_TEST_SLURM_JWT_KEY_FILE=%q\n' "$JWT_KEY"
    printf 'export GPUHOURS_TEST_SLURM_CLUSTER=%q\n' "$CLUSTER"
}

# cancel every pending/running job of the rig and wait until the nodes are free; accounting
# history is kept
cmd_reset_jobs() {
    need_root
    ctld_ok || die "slurmctld is not answering; run '$PROG start' first"
    local ids deadline
    ids=$(timeout 20 squeue -h -a -t PD,R,CF,CG,S,RQ,RS,SE -o %A | sort -u | tr '\n' ' ')
    if [[ -n ${ids// /} ]]; then
        # shellcheck disable=SC2086
        timeout 20 scancel $ids || true
        say "cancelled: $ids"
    fi
    deadline=$(($(now_ms) + TIMEOUT * 1000))
    while [[ -n $(timeout 20 squeue -h -a -o %A) ]]; do
        (($(now_ms) < deadline)) || die "jobs still active after ${TIMEOUT}s: $(squeue -h -a -o '%A %T' | tr '\n' ' ')"
        sleep 0.5
    done
    say "no active jobs"
}

usage() {
    cat <<EOF
usage: $PROG install | start | stop | status | token [--lifespan SECONDS] | env | reset-jobs
  install     apt-get the Slurm 22.05 + munge packages (skipped if present)
  start       configure and start munged, slurmdbd, slurmctld, 2x slurmd, slurmrestd (idempotent)
  stop        stop exactly what start started (by recorded PID); running jobs survive
  status      daemons, PIDs, alive; exit 0 only if all are up
  token       mint a JWT for the service user into \$DIR/rest.token (0600), print its path
  env         print export lines for the integration tests
  reset-jobs  cancel all active jobs (accounting history is kept)
state dir: \$GPUHOURS_SLURM_DIR (default /var/lib/gpuhours-slurm)
EOF
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        install) cmd_install "$@" ;;
        start) load_settings; cmd_start "$@" ;;
        stop) load_settings; cmd_stop "$@" ;;
        status) load_settings; cmd_status "$@" ;;
        token) load_settings; cmd_token "$@" ;;
        env) load_settings; cmd_env "$@" ;;
        reset-jobs) load_settings; cmd_reset_jobs "$@" ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

# deploy/slurm/rig2411.sh sources this file for its functions: run main only when executed
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
