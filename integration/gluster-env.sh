#!/usr/bin/env bash
# gluster-env.sh: a throwaway GlusterFS server on loopback for glusterfs-rs
# tests, benchmarks and CI.
#
# Usage: integration/gluster-env.sh SUBCOMMAND [ARGS]
#
#   install                  install glusterfs-server, glusterfs-client, fuse3,
#                            fio and attr with apt-get if anything is missing
#   start                    start glusterd (no systemd needed) and wait until
#                            it answers
#   volumes [VOL...]         create/start the test volumes (all by default)
#   official-mount VOL DIR   mount VOL with the official FUSE client at DIR
#   cleanup-mounts           unmount every FUSE mount under the mount base
#   setup [VOL...]           install + start + cleanup-mounts + volumes +
#                            official mounts of grs1, grs2, grsdist4; prints the
#                            environment for the tests as `export X=Y` lines
#   exports [VOL...]         print those `export` lines only
#   teardown [--all] [VOL...]
#                            unmount, delete the test volumes and their
#                            bricks; --all also stops glusterd
#   brick-dirs VOL           print the brick directories of VOL, one a line
#
# Test volumes (all bricks on host 127.0.0.2; glusterd refuses 127.0.0.1 and
# localhost as brick hosts, and bricks on the root filesystem need `force`):
#   grs1      1 brick
#   grs2      distribute over 2 bricks
#   grsdist4  distribute over 4 bricks
#   grsrep3   replica 3 (fault tests kill its bricks)
#   grsrepb   replica 3 (POSIX and differential tests; no faults)
#   grsarb    replica 3 arbiter 1 (fault tests)
#   grsrep2x3 distributed-replicate 2 x 3 (fault tests)
#   grsfault  1 brick, for fault tests that kill its brick
#   grsauth   1 brick that refuses every client (auth.reject 127.*)
#   grsvirt   replica 3 with `gluster volume set grsvirt group virt`
#   grsec     disperse 3 redundancy 1
#
# Environment:
#   GLUSTERFS_RS_TEST_DIR      brick base dir (/var/tmp/glusterfs-rs-test/bricks);
#                              bricks are $GLUSTERFS_RS_TEST_DIR/<vol>/b<N>
#   GLUSTERFS_RS_TEST_MNT      mount base dir (/mnt/glusterfs-rs-test); the
#                              official client mounts <vol> at official-<vol>
#   GLUSTERFS_RS_TEST_VOLUMES  space-separated subset of volumes to handle when
#                              none are given on the command line
#
# Every subcommand is idempotent and copes with state left by earlier runs:
# glusterd not running, a stale pid file, volumes in /var/lib/glusterd whose
# bricks are gone, brick processes that died, FUSE mounts whose daemon died.
# Progress goes to stderr; only `setup`, `exports` and `brick-dirs` print to
# stdout, so `eval "$(integration/gluster-env.sh setup)"` works.

set -euo pipefail

# glusterd, gluster and mount.glusterfs live in sbin, which a non-login root
# shell (CI) may not have on PATH.
export PATH="${PATH:-/usr/bin:/bin}:/usr/sbin:/sbin"
export LC_ALL=C

readonly HOST=127.0.0.2
readonly TEST_DIR="${GLUSTERFS_RS_TEST_DIR:-/var/tmp/glusterfs-rs-test/bricks}"
readonly TEST_MNT="${GLUSTERFS_RS_TEST_MNT:-/mnt/glusterfs-rs-test}"
readonly ALL_VOLUMES=(grs1 grs2 grsdist4 grsrep3 grsrepb grsarb grsrep2x3 grsfault grsauth grsvirt grsec)
readonly OFFICIAL_VOLUMES=(grs1 grs2 grsdist4 grsrepb grsrep3 grsarb grsrep2x3)
readonly GLUSTERD_BIN=/usr/sbin/glusterd
readonly GLUSTERD_PIDFILE=/run/glusterd.pid
readonly GLUSTERD_WORKDIR=/var/lib/glusterd
readonly LOCK_FILE=/run/lock/glusterfs-rs-test-env.lock
# Bounds (seconds) on the waits below.
readonly GLUSTERD_WAIT=30
readonly BRICK_WAIT=30
readonly MOUNT_WAIT=30
readonly CLI_TIMEOUT=120

log() { printf '[gluster-env] %s\n' "$*" >&2; }
die() { printf '[gluster-env] ERROR: %s\n' "$*" >&2; exit 1; }

# The gluster CLI, never prompting, never hanging forever.
gl() { timeout -k 5 "$CLI_TIMEOUT" gluster --mode=script "$@"; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (glusterd, bricks and mounts need it)"
}

# ---------------------------------------------------------------------------
# Volume layout
# ---------------------------------------------------------------------------

# vol_layout VOL -> "plain N", "replica N", "arbiter 3" (replica 3 arbiter
# 1), "distrep N" (replica 3 over N bricks) or "disperse N"
vol_layout() {
    case "$1" in
        grs1) echo "plain 1" ;;
        grs2) echo "plain 2" ;;
        grsdist4) echo "plain 4" ;;
        grsrep3) echo "replica 3" ;;
        grsrepb) echo "replica 3" ;;
        grsarb) echo "arbiter 3" ;;
        grsrep2x3) echo "distrep 6" ;;
        grsfault) echo "plain 1" ;;
        grsauth) echo "plain 1" ;;
        grsvirt) echo "replica 3" ;;
        grsec) echo "disperse 3" ;;
        *) return 1 ;;
    esac
}

# vol_options VOL -> "key value" lines to set on the volume
vol_options() {
    case "$1" in
        # Every loopback client is refused: SETVOLUME answers EACCES.
        grsauth) echo "auth.reject 127.*" ;;
        # The VM profile: adds features/shard, eager locks, quorum, ...
        grsvirt) echo "group virt" ;;
    esac
}

# apply_options VOL: set the volume's options (idempotent).
apply_options() {
    local key value
    while read -r key value; do
        [[ -n $key ]] || continue
        gl volume set "$1" "$key" "$value" >&2
    done < <(vol_options "$1")
}

check_volume_name() {
    vol_layout "$1" >/dev/null || die "unknown test volume '$1' (known: ${ALL_VOLUMES[*]})"
}

# brick_dirs VOL: expected brick directories, one a line.
brick_dirs() {
    local layout count i
    layout=$(vol_layout "$1")
    count=${layout#* }
    for ((i = 1; i <= count; i++)); do
        printf '%s\n' "$TEST_DIR/$1/b$i"
    done
}

# selected_volumes [VOL...]: the volumes named, else $GLUSTERFS_RS_TEST_VOLUMES,
# else all of them. Result in the global array SELECTED.
SELECTED=()
select_volumes() {
    if (($# > 0)); then
        SELECTED=("$@")
    elif [[ -n ${GLUSTERFS_RS_TEST_VOLUMES:-} ]]; then
        read -r -a SELECTED <<<"$GLUSTERFS_RS_TEST_VOLUMES"
    else
        SELECTED=("${ALL_VOLUMES[@]}")
    fi
    local v
    for v in "${SELECTED[@]}"; do check_volume_name "$v"; done
}

# ---------------------------------------------------------------------------
# Processes (read from /proc so that procps is not needed)
# ---------------------------------------------------------------------------

# pids_by_comm NAME: pids of live processes whose command name is NAME.
pids_by_comm() {
    local p comm
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        [[ $comm == "$1" ]] || continue
        # Skip zombies: they are dead but not yet reaped.
        [[ $(awk '{print $3}' "$p/stat" 2>/dev/null) == Z ]] && continue
        echo "${p#/proc/}"
    done
}

glusterd_pids() { pids_by_comm glusterd; }

# brick_pids VOL: pids of glusterfsd brick processes serving VOL.
brick_pids() {
    local p cmdline
    for p in $(pids_by_comm glusterfsd); do
        cmdline=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null) || continue
        # The brick's command line holds "--volfile-id VOL.HOST.path".
        if [[ $'\n'$cmdline == *$'\n'"$1.$HOST."* ]]; then
            echo "$p"
        fi
    done
}

# wait_gone SECONDS PID...: wait until all PIDs have exited.
wait_gone() {
    local limit=$1 p alive
    shift
    local deadline=$((SECONDS + limit))
    while ((SECONDS < deadline)); do
        alive=0
        for p in "$@"; do [[ -d /proc/$p ]] && alive=1; done
        ((alive)) || return 0
        sleep 0.5
    done
    return 1
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

ensure_dev_fuse() {
    [[ -e /dev/fuse ]] && return 0
    modprobe fuse 2>/dev/null || true
    [[ -e /dev/fuse ]] || mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
    [[ -e /dev/fuse ]] || log "WARNING: /dev/fuse is missing; FUSE mounts will fail"
}

cmd_install() {
    local missing=() c
    for c in glusterd gluster mount.glusterfs fio getfattr setfattr fusermount3; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if ((${#missing[@]} == 0)); then
        log "install: all tools present"
        ensure_dev_fuse
        return 0
    fi
    require_root
    log "install: missing ${missing[*]}; installing packages"
    local try
    for try in 1 2 3; do
        # stdout is reserved for `setup`'s export lines: apt talks to stderr.
        apt-get update >&2 && break
        ((try < 3)) || die "apt-get update failed"
        sleep 5
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        glusterfs-server glusterfs-client fuse3 fio attr </dev/null >&2
    for c in "${missing[@]}"; do
        command -v "$c" >/dev/null 2>&1 || die "install: $c still missing after apt-get install"
    done
    ensure_dev_fuse
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

glusterd_answers() { timeout -k 2 10 gluster --mode=script volume list >/dev/null 2>&1; }

GLUSTERD_CHECKED=0
cmd_start() {
    # Already checked by this run (setup calls start, then volumes does).
    ((GLUSTERD_CHECKED)) && return 0
    require_root
    [[ -x $GLUSTERD_BIN ]] || die "$GLUSTERD_BIN not found (run: $0 install)"
    local pids
    pids=$(glusterd_pids)
    if [[ -z $pids ]]; then
        # A pid file left by a glusterd that died (or by an earlier boot) is
        # stale: remove it so nothing mistakes it for a live daemon.
        if [[ -e $GLUSTERD_PIDFILE ]]; then
            log "start: removing stale $GLUSTERD_PIDFILE"
            rm -f "$GLUSTERD_PIDFILE"
        fi
        mkdir -p /var/log/glusterfs "$GLUSTERD_WORKDIR" /run/gluster
        log "start: starting glusterd"
        # glusterd daemonizes itself. Close the lock fd so the daemon does not
        # hold our lock forever.
        "$GLUSTERD_BIN" -p "$GLUSTERD_PIDFILE" 9>&- </dev/null \
            || die "glusterd failed to start (see /var/log/glusterfs/glusterd.log)"
    fi
    local deadline=$((SECONDS + GLUSTERD_WAIT))
    until glusterd_answers; do
        if ((SECONDS >= deadline)); then
            die "glusterd does not answer after ${GLUSTERD_WAIT}s (see /var/log/glusterfs/glusterd.log)"
        fi
        if [[ -z $(glusterd_pids) ]]; then
            die "glusterd exited (see /var/log/glusterfs/glusterd.log)"
        fi
        sleep 1
    done
    log "start: glusterd running (pid $(glusterd_pids | paste -sd ' ' -))"
    GLUSTERD_CHECKED=1
}

# ---------------------------------------------------------------------------
# volumes
# ---------------------------------------------------------------------------

vol_exists() {
    local list
    list=$(gl volume list 2>/dev/null) || die "gluster volume list failed"
    grep -qx -- "$1" <<<"$list"
}

# vol_field VOL FIELD: a "Field: value" line of `gluster volume info VOL`.
vol_field() {
    gl volume info "$1" | awk -v f="$2: " 'index($0, f) == 1 && !done { print substr($0, length(f) + 1); done = 1 }'
}

# vol_bricks VOL: bricks as "host:/path", one a line, in volume order.
vol_bricks() { gl volume info "$1" | sed -n 's/^Brick[0-9][0-9]*: //p'; }

# brick_volume_id DIR: the volume id stamped on a brick dir, as 32 hex digits.
brick_volume_id() {
    getfattr --absolute-names -n trusted.glusterfs.volume-id -e hex "$1" 2>/dev/null \
        | sed -n 's/^trusted\.glusterfs\.volume-id=0x//p'
}

# vol_is_intact VOL: the volume has exactly the expected bricks and type, and
# every brick dir exists and carries this volume's id. Anything else (bricks
# wiped by a machine reset, a volume created by another layout) is stale.
vol_is_intact() {
    local vol=$1 layout want_type got_type vid expected actual d
    layout=$(vol_layout "$vol")
    case "$layout" in
        plain*) want_type=Distribute ;;
        replica* | arbiter*) want_type=Replicate ;;
        distrep*) want_type=Distributed-Replicate ;;
        disperse*) want_type=Disperse ;;
    esac
    got_type=$(vol_field "$vol" Type)
    if [[ $got_type != "$want_type" ]]; then
        log "volumes: $vol has type '$got_type', expected $want_type"
        return 1
    fi
    expected=$(brick_dirs "$vol" | sed "s|^|$HOST:|")
    actual=$(vol_bricks "$vol")
    if [[ $expected != "$actual" ]]; then
        log "volumes: $vol has bricks [$(echo "$actual" | tr '\n' ' ')], expected [$(echo "$expected" | tr '\n' ' ')]"
        return 1
    fi
    vid=$(vol_field "$vol" "Volume ID" | tr -d '-')
    while read -r d; do
        if [[ ! -d $d ]]; then
            log "volumes: $vol brick dir $d is missing"
            return 1
        fi
        if [[ $(brick_volume_id "$d") != "$vid" ]]; then
            log "volumes: $vol brick dir $d does not carry volume id $vid"
            return 1
        fi
    done < <(brick_dirs "$vol")
    return 0
}

# offline_nodes VOL: brick and daemon entries of `volume status` that are not
# online, one a line ("host:path"). Prints "not-started" if the volume is not
# started (status fails).
offline_nodes() {
    local xml
    if ! xml=$(gl volume status "$1" --xml 2>/dev/null) || ! grep -q '<opRet>0</opRet>' <<<"$xml"; then
        echo "not-started"
        return 0
    fi
    awk '
        /<node>/      { host = ""; path = ""; st = "" }
        /<hostname>/  { host = $0; gsub(/.*<hostname>|<\/hostname>.*/, "", host) }
        /<path>/      { path = $0; gsub(/.*<path>|<\/path>.*/, "", path) }
        /<status>/    { st = $0; gsub(/.*<status>|<\/status>.*/, "", st) }
        /<\/node>/    { if (st != "1") print host ":" path }
    ' <<<"$xml"
}

# wait_online VOL SECONDS: wait until every brick of VOL is online.
wait_online() {
    local deadline=$((SECONDS + $2)) down
    while :; do
        down=$(offline_nodes "$1")
        [[ -z $down ]] && return 0
        ((SECONDS >= deadline)) && break
        sleep 1
    done
    log "volumes: $1 not fully online: $(echo "$down" | tr '\n' ' ')"
    return 1
}

# ensure_online VOL: start a stopped volume, restart dead brick processes.
ensure_online() {
    local vol=$1
    if [[ $(vol_field "$vol" Status) != Started ]]; then
        log "volumes: starting $vol"
        gl volume start "$vol" >&2
    fi
    # glusterd restarts the bricks of started volumes itself right after it
    # starts: give it a moment before forcing anything.
    wait_online "$vol" 5 2>/dev/null && return 0
    log "volumes: $vol has bricks down; gluster volume start $vol force"
    gl volume start "$vol" force >&2
    wait_online "$vol" "$BRICK_WAIT" || die "bricks of $vol do not come online (see /var/log/glusterfs/bricks/)"
}

# purge_volume_config VOL: last resort when glusterd cannot delete VOL (a
# broken /var/lib/glusterd from an earlier machine state): stop glusterd,
# drop the volume's config and brick processes, start glusterd again.
purge_volume_config() {
    local vol=$1 pids
    log "volumes: glusterd could not delete $vol; purging $GLUSTERD_WORKDIR/vols/$vol"
    pids=$(glusterd_pids)
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086 # word splitting of the pid list is wanted
        kill $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone 15 $pids || die "glusterd does not stop"
    fi
    pids=$(brick_pids "$vol")
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        kill $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone 15 $pids || true
    fi
    rm -rf "${GLUSTERD_WORKDIR:?}/vols/$vol"
    GLUSTERD_CHECKED=0
    cmd_start
}

# destroy_volume VOL: stop and delete VOL if glusterd knows it, then wipe its
# brick dirs completely (a dir that still carries trusted.glusterfs.volume-id
# would make a later `volume create` refuse it).
destroy_volume() {
    local vol=$1 old_dirs=() b
    if vol_exists "$vol"; then
        # Brick dirs the volume really has: with another GLUSTERFS_RS_TEST_DIR
        # they are not ours to compute. Only dirs of our own naming scheme
        # (.../VOL/bN) are removed below.
        while read -r b; do
            b=${b#"$HOST":}
            [[ $b == /*/"$vol"/b[0-9]* ]] && old_dirs+=("$b")
        done < <(vol_bricks "$vol")
        if [[ $(vol_field "$vol" Status) == Started ]]; then
            log "volumes: stopping $vol"
            gl volume stop "$vol" force >&2 || log "volumes: stop $vol failed; deleting anyway"
        fi
        log "volumes: deleting $vol"
        gl volume delete "$vol" >&2 || purge_volume_config "$vol"
    fi
    # Brick processes that outlived their volume (killed glusterd, etc.).
    local pids
    pids=$(brick_pids "$vol")
    if [[ -n $pids ]]; then
        log "volumes: killing leftover brick processes of $vol: $(echo "$pids" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone 15 $pids || true
    fi
    rm -rf "${TEST_DIR:?}/$vol"
    for b in "${old_dirs[@]}"; do
        rm -rf "$b"
        rmdir "$(dirname "$b")" 2>/dev/null || true
    done
}

create_volume() {
    local vol=$1 layout kind count bricks=() d
    layout=$(vol_layout "$vol")
    kind=${layout% *}
    count=${layout#* }
    # Whatever was there belongs to an older volume: start from empty dirs.
    rm -rf "${TEST_DIR:?}/$vol"
    # A volume-id on a parent would also block creation (glusterd checks the
    # brick's ancestors); strip it from our base dir should anyone have used
    # it as a brick.
    mkdir -p "$TEST_DIR"
    setfattr -x trusted.glusterfs.volume-id "$TEST_DIR" 2>/dev/null || true
    setfattr -x trusted.gfid "$TEST_DIR" 2>/dev/null || true
    while read -r d; do
        mkdir -p "$d"
        bricks+=("$HOST:$d")
    done < <(brick_dirs "$vol")
    log "volumes: creating $vol ($layout)"
    if [[ $kind == replica ]]; then
        gl volume create "$vol" replica "$count" "${bricks[@]}" force >&2
    elif [[ $kind == arbiter ]]; then
        gl volume create "$vol" replica 3 arbiter 1 "${bricks[@]}" force >&2
    elif [[ $kind == distrep ]]; then
        gl volume create "$vol" replica 3 "${bricks[@]}" force >&2
    elif [[ $kind == disperse ]]; then
        gl volume create "$vol" disperse "$count" redundancy 1 "${bricks[@]}" force >&2
    else
        gl volume create "$vol" "${bricks[@]}" force >&2
    fi
    apply_options "$vol"
    gl volume start "$vol" >&2
    wait_online "$vol" "$BRICK_WAIT" || die "bricks of $vol do not come online (see /var/log/glusterfs/bricks/)"
}

cmd_volumes() {
    select_volumes "$@"
    cmd_start
    local vol
    for vol in "${SELECTED[@]}"; do
        if vol_exists "$vol"; then
            if vol_is_intact "$vol"; then
                apply_options "$vol"
                ensure_online "$vol"
                log "volumes: $vol ready (kept)"
                continue
            fi
            log "volumes: $vol is stale; recreating it"
            destroy_volume "$vol"
        fi
        create_volume "$vol"
        log "volumes: $vol ready (created)"
    done
}

# ---------------------------------------------------------------------------
# mounts
# ---------------------------------------------------------------------------

# mount_entries: "mountpoint<TAB>fstype<TAB>source<TAB>major:minor" for every
# mount, in mount order, with mountinfo's octal escapes decoded.
mount_entries() {
    awk '{
        for (i = 7; i <= NF; i++) if ($i == "-") break
        printf "%s\t%s\t%s\t%s\n", $5, $(i + 1), $(i + 2), $3
    }' /proc/self/mountinfo | while IFS=$'\t' read -r mp fs src dev; do
        printf '%b\t%s\t%s\t%s\n' "$mp" "$fs" "$src" "$dev"
    done
}

# mount_entry DIR: the topmost mount entry at exactly DIR, if any.
mount_entry() {
    mount_entries | awk -F '\t' -v d="$1" '$1 == d { e = $0 } END { if (e != "") print e }'
}

# is_live DIR: the file system at DIR answers statfs and stat (a FUSE mount
# whose daemon died fails with ENOTCONN; a hung one times out). statfs comes
# first because the kernel may answer a plain stat from its attribute cache
# without asking the daemon.
is_live() {
    timeout -k 2 10 stat -f "$1" >/dev/null 2>&1 && timeout -k 2 10 stat "$1" >/dev/null 2>&1
}

# abort_fuse_connection DEV: abort the FUSE connection of the mount whose
# device is DEV ("0:minor"), so that requests stuck on a hung daemon fail
# instead of blocking forever. Mounts fusectl if it is not mounted yet.
abort_fuse_connection() {
    local dev=$1 ctl=/sys/fs/fuse/connections
    [[ ${dev%%:*} == 0 && -d $ctl ]] || return 0
    if ! mount_entries | awk -F '\t' -v c="$ctl" '$1 == c { f = 1 } END { exit !f }'; then
        mount -t fusectl fusectl "$ctl" 2>/dev/null || return 0
    fi
    if [[ -e $ctl/${dev#*:}/abort ]]; then
        log "cleanup-mounts: aborting FUSE connection ${dev#*:}"
        echo 1 >"$ctl/${dev#*:}/abort" 2>/dev/null || true
    fi
}

# unmount_one DIR DEV: unmount DIR. A live mount gets a plain umount first;
# a dead one (ENOTCONN) or hung one (stat times out) has its connection
# aborted and is detached lazily. umount -c (no canonicalization) does not
# stat the mount point, which would block on a hung daemon; every call is
# bounded by a timeout all the same.
unmount_one() {
    local dir=$1 dev=$2
    if is_live "$dir"; then
        timeout -k 2 10 umount -c "$dir" 2>/dev/null && return 0
    else
        abort_fuse_connection "$dev"
    fi
    timeout -k 2 10 umount -l -c "$dir" 2>/dev/null && return 0
    timeout -k 2 10 fusermount3 -u -z "$dir" 2>/dev/null && return 0
    return 1
}

cmd_cleanup_mounts() {
    require_root
    local round entries mp fs src dev n
    for round in 1 2 3 4 5; do
        # FUSE mounts at or under the base, deepest first.
        entries=$(mount_entries | awk -F '\t' -v b="$TEST_MNT" '
            ($1 == b || index($1, b "/") == 1) && $2 ~ /^fuse/ { print length($1) "\t" $0 }
        ' | sort -rn | cut -f 2-)
        [[ -z $entries ]] && return 0
        n=0
        while IFS=$'\t' read -r mp fs src dev; do
            log "cleanup-mounts: unmounting $mp ($fs $src)"
            unmount_one "$mp" "$dev" || log "cleanup-mounts: could not unmount $mp"
            n=$((n + 1))
        done <<<"$entries"
        log "cleanup-mounts: round $round: $n mount(s) handled"
    done
    entries=$(mount_entries | awk -F '\t' -v b="$TEST_MNT" '($1 == b || index($1, b "/") == 1) && $2 ~ /^fuse/')
    [[ -z $entries ]] || die "cleanup-mounts: mounts remain under $TEST_MNT: $entries"
}

cmd_official_mount() {
    (($# == 2)) || die "usage: $0 official-mount VOL DIR"
    require_root
    local vol=$1 dir=$2 entry fs src dev want_src="$HOST:/$1"
    # Compare with /proc/self/mountinfo, which holds absolute paths without
    # trailing slashes.
    [[ $dir == /* ]] || dir="$PWD/$dir"
    while [[ $dir == */ && $dir != / ]]; do dir=${dir%/}; done
    while entry=$(mount_entry "$dir") && [[ -n $entry ]]; do
        IFS=$'\t' read -r _ fs src dev <<<"$entry"
        if [[ $fs == fuse.glusterfs && $src == "$want_src" ]] && is_live "$dir"; then
            log "official-mount: $want_src already live at $dir"
            return 0
        fi
        log "official-mount: removing stale or foreign mount at $dir ($fs $src)"
        unmount_one "$dir" "$dev" || die "cannot unmount $dir"
    done
    ensure_dev_fuse
    # The client fetches its volfile from glusterd.
    cmd_start
    mkdir -p "$dir"
    log "official-mount: mounting $want_src at $dir"
    # Close the lock fd: the glusterfs client daemon must not inherit it.
    mount -t glusterfs "$want_src" "$dir" 9>&- </dev/null >&2 || die "mount -t glusterfs $want_src $dir failed"
    local deadline=$((SECONDS + MOUNT_WAIT))
    while :; do
        entry=$(mount_entry "$dir")
        if [[ -n $entry ]]; then
            IFS=$'\t' read -r _ fs src _ <<<"$entry"
            if [[ $fs == fuse.glusterfs ]] && is_live "$dir"; then
                log "official-mount: $want_src live at $dir"
                return 0
            fi
        fi
        ((SECONDS >= deadline)) && die "mount of $want_src at $dir is not live after ${MOUNT_WAIT}s"
        sleep 1
    done
}

# ---------------------------------------------------------------------------
# setup, exports, teardown
# ---------------------------------------------------------------------------

cmd_exports() {
    select_volumes "$@"
    printf "export GLUSTERFS_RS_TEST_HOST=%s\n" "$HOST"
    printf "export GLUSTERFS_RS_TEST_DIR='%s'\n" "$TEST_DIR"
    printf "export GLUSTERFS_RS_TEST_MNT='%s'\n" "$TEST_MNT"
    local vol
    for vol in "${SELECTED[@]}"; do
        printf "export GLUSTERFS_RS_TEST_BRICKS_%s='%s'\n" \
            "${vol^^}" "$(brick_dirs "$vol" | paste -sd ' ' -)"
    done
}

cmd_setup() {
    select_volumes "$@"
    local selected=("${SELECTED[@]}") vol
    cmd_install
    cmd_start
    cmd_cleanup_mounts
    cmd_volumes "${selected[@]}"
    for vol in "${OFFICIAL_VOLUMES[@]}"; do
        if [[ " ${selected[*]} " == *" $vol "* ]]; then
            cmd_official_mount "$vol" "$TEST_MNT/official-$vol"
        fi
    done
    log "setup: done"
    cmd_exports "${selected[@]}"
}

cmd_teardown() {
    local all=0
    if [[ ${1:-} == --all ]]; then
        all=1
        shift
    fi
    select_volumes "$@"
    cmd_cleanup_mounts
    local vol
    # Deleting volumes needs glusterd; start it if it is down.
    if [[ -x $GLUSTERD_BIN ]]; then
        cmd_start
        for vol in "${SELECTED[@]}"; do destroy_volume "$vol"; done
    else
        for vol in "${SELECTED[@]}"; do rm -rf "${TEST_DIR:?}/$vol"; done
    fi
    rmdir "$TEST_DIR" 2>/dev/null || true
    rmdir "$TEST_MNT"/official-* 2>/dev/null || true
    rmdir "$TEST_MNT" 2>/dev/null || true
    if ((all)); then
        local pids
        pids=$(glusterd_pids)
        if [[ -n $pids ]]; then
            log "teardown: stopping glusterd ($(paste -sd " " - <<<"$pids"))"
            # shellcheck disable=SC2086
            kill $pids 2>/dev/null || true
            # shellcheck disable=SC2086
            wait_gone 15 $pids || die "glusterd does not stop"
        fi
        rm -f "$GLUSTERD_PIDFILE"
    fi
    log "teardown: done"
}

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case "$cmd" in
        brick-dirs)
            (($# == 1)) || die "usage: $0 brick-dirs VOL"
            check_volume_name "$1"
            brick_dirs "$1"
            return 0
            ;;
        exports)
            cmd_exports "$@"
            return 0
            ;;
        -h | --help | help) usage ;;
    esac
    # Everything else changes shared state: one at a time.
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec 9>"$LOCK_FILE"
    flock -w 600 9 || die "another gluster-env.sh holds $LOCK_FILE"
    case "$cmd" in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        volumes) cmd_volumes "$@" ;;
        official-mount) cmd_official_mount "$@" ;;
        cleanup-mounts) cmd_cleanup_mounts "$@" ;;
        setup) cmd_setup "$@" ;;
        teardown) cmd_teardown "$@" ;;
        *) usage ;;
    esac
}

main "$@"
