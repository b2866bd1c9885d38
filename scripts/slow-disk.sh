#!/usr/bin/env bash
# A slow disk on a fast machine, to measure hookd as the slower machines of its class run it
# (BENCHMARKS.md, "on a slow disk"). The machines under hookd's CI range from about 300 to
# 7,500 synced writes/s; this mounts an ext4 file system whose writes go through QEMU's
# throttling, so that a benchmark's data directory can sit on such a disk whatever the
# machine's own.
#
#   scripts/slow-disk.sh up [WRITE_IOPS] [WRITE_BYTES_PER_S]   # default 9000 and 200000000
#   scripts/slow-disk.sh down
#
# Then, for example:
#   hookd bench --messages 6000 --rate 200 --hanging-endpoints 100 \
#       --database-url sqlite:///mnt/hookd-slow/bench.db
#
# How: an image file, served by qemu-storage-daemon through a throttle node as a FUSE export
# (a file), attached as a loop device, formatted ext4 and mounted. Needs root, /dev/fuse,
# qemu-storage-daemon (Debian: qemu-system-common or qemu-utils), losetup and mkfs.ext4.
# 9,000 write IOPS and 200 MB/s measured about 1,360 synced 4 KB writes/s from Python
# (os.write + os.fdatasync); 1,000 IOPS and 60 MB/s measured about 340.
set -euo pipefail

MOUNT=/mnt/hookd-slow
WORK=${TMPDIR:-/tmp}/hookd-slow-disk
IMAGE=$WORK/disk.img
EXPORT=$WORK/export

down() {
    if mountpoint -q "$MOUNT"; then umount "$MOUNT"; fi
    if [ -f "$WORK/loop" ]; then losetup -d "$(cat "$WORK/loop")" 2>/dev/null || true; rm -f "$WORK/loop"; fi
    if [ -f "$WORK/qsd.pid" ]; then kill "$(cat "$WORK/qsd.pid")" 2>/dev/null || true; rm -f "$WORK/qsd.pid"; fi
    sleep 0.5
    rm -rf "$WORK"
}

up() {
    local iops=${1:-9000} bps=${2:-200000000}
    [ "$(id -u)" = 0 ] || { echo "slow-disk.sh: needs root (losetup, mount)" >&2; exit 2; }
    command -v qemu-storage-daemon >/dev/null || { echo "slow-disk.sh: qemu-storage-daemon not found" >&2; exit 2; }
    down
    mkdir -p "$WORK" "$MOUNT"
    truncate -s 4G "$IMAGE"
    touch "$EXPORT"
    qemu-storage-daemon \
        --blockdev "driver=file,filename=$IMAGE,node-name=file0" \
        --object "throttle-group,id=slow,x-iops-write=$iops,x-bps-write=$bps" \
        --blockdev "driver=throttle,node-name=slow0,throttle-group=slow,file=file0" \
        --export "type=fuse,id=export0,node-name=slow0,mountpoint=$EXPORT,writable=on" \
        --pidfile "$WORK/qsd.pid" --daemonize
    losetup -f --show "$EXPORT" > "$WORK/loop"
    mkfs.ext4 -q "$(cat "$WORK/loop")"
    mount "$(cat "$WORK/loop")" "$MOUNT"
    echo "slow disk mounted at $MOUNT ($iops write IOPS, $bps write bytes/s)"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    *) echo "usage: $0 up [WRITE_IOPS] [WRITE_BYTES_PER_S] | down" >&2; exit 2 ;;
esac
