#!/usr/bin/env bash
# A slower machine on a fast one, to measure hookd as the slower machines of its class run it
# (BENCHMARKS.md, "the machine class, emulated"). The machines under hookd's CI have
# 2 cores, but their trivial-HTTP ceilings range from about 18,000 to 97,000 req/s; this runs
# a command (and every process it starts) in a CPU cgroup limited to CPUS cores' worth of
# time, so that `hookd bench` measures its ceiling and hookd under the same limit.
#
#   scripts/slow-cpu.sh CPUS COMMAND [ARGS...]
#
# For example, with scripts/slow-disk.sh for the disk:
#   scripts/slow-cpu.sh 0.5 hookd bench --messages 6000 --rate 200 --hanging-endpoints 100 \
#       --database-url sqlite:///mnt/hookd-slow/bench.db
#
# On the fourteenth and fifteenth sessions' machines (ceilings 60,000-99,000 req/s), 0.5 put
# the ceiling at 23,000-28,000 req/s and 0.6 at about 32,000. The quota is given per 10 ms,
# so a thread that used up its share waits at most that long, not the 100 ms of the default
# period. Needs root and the cpu controller (cgroup v1 or v2).
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 CPUS COMMAND [ARGS...]" >&2; exit 2; }
cpus=$1
shift
[ "$(id -u)" = 0 ] || { echo "slow-cpu.sh: needs root (a cgroup)" >&2; exit 2; }
period=10000
quota=$(awk -v c="$cpus" -v p=$period 'BEGIN { q = int(c * p); if (q < 1000) q = 1000; print q }')
name=hookd-slow-cpu-$$

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # cgroup v2: the cpu controller must be enabled for the root's children.
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
    group=/sys/fs/cgroup/$name
    mkdir "$group"
    echo "$quota $period" > "$group/cpu.max"
elif [ -d /sys/fs/cgroup/cpu ]; then
    group=/sys/fs/cgroup/cpu/$name
    mkdir "$group"
    echo $period > "$group/cpu.cfs_period_us"
    echo "$quota" > "$group/cpu.cfs_quota_us"
else
    echo "slow-cpu.sh: no cgroup cpu controller found" >&2
    exit 2
fi

# The command runs in a child that joins the group first; the group is removed once the
# command and everything it started have ended.
cleanup() { rmdir "$group" 2>/dev/null || true; }
trap cleanup EXIT
echo "slow-cpu.sh: running with $cpus cores' worth of CPU time ($quota µs per $period µs)" >&2
set +e
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' slow-cpu "$group" "$@"
status=$?
set -e
exit $status
