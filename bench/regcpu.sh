#!/usr/bin/env bash
# Runs a tool command and records the CPU the two bench registries spent while it ran (not part of
# the tests).
#
#   REGCPU_OUT=FILE bench/regcpu.sh COMMAND [ARG...]
#
# Meant as the front of a `bench.sh --tool` template: bench.sh exports BENCH_WORK, under which
# registry.sh keeps each registry's pid (reg/src/pid, reg/dst/pid). Around COMMAND this reads the
# registries' utime + stime from /proc/PID/stat and the whole machine's busy and idle time from
# /proc/stat, then appends one line to REGCPU_OUT:
#
#   REGCPU src_cpu_s=… dst_cpu_s=… machine_busy=… machine_iowait=… cores=N
#
# The registries' CPU is work any client sending the same requests pays for; divided by the cores
# it is the shortest wall time those requests allow on this machine, whoever sends them. Exits with
# COMMAND's exit code, so bench.sh's `rc=` stays the tool's.
set -uo pipefail
[[ $# -ge 1 ]] || { echo "usage: REGCPU_OUT=FILE $0 COMMAND [ARG...]" >&2; exit 2; }
out="${REGCPU_OUT:?set REGCPU_OUT to the file to append to}"
work="${BENCH_WORK:?BENCH_WORK is not set: run this from a bench.sh --tool template}"
tick="$(getconf CLK_TCK)"

# utime + stime of a process, in clock ticks (0 when it is gone).
ticks_of() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  # Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
  awk '{print $12 + $13}' <<<"${stat##*) }"
}
# Busy, waiting-for-disk and total clock ticks of the whole machine.
machine_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, $6, t}' /proc/stat; }

src_pid="$(cat "$work/reg/src/pid")"
dst_pid="$(cat "$work/reg/dst/pid")"
src0="$(ticks_of "$src_pid")"; dst0="$(ticks_of "$dst_pid")"
read -r busy0 wait0 total0 < <(machine_ticks)
"$@"
rc=$?
src1="$(ticks_of "$src_pid")"; dst1="$(ticks_of "$dst_pid")"
read -r busy1 wait1 total1 < <(machine_ticks)
awk -v s0="$src0" -v s1="$src1" -v d0="$dst0" -v d1="$dst1" -v b0="$busy0" -v b1="$busy1" -v w0="$wait0" -v w1="$wait1" \
  -v t0="$total0" -v t1="$total1" -v tick="$tick" -v cores="$(nproc)" \
  'BEGIN { span = t1 > t0 ? t1 - t0 : 1
           printf "REGCPU src_cpu_s=%.2f dst_cpu_s=%.2f machine_busy=%.2f machine_iowait=%.2f cores=%d\n",
           (s1 - s0) / tick, (d1 - d0) / tick, (b1 - b0) / span, (w1 - w0) / span, cores }' \
  >> "$out"
exit "$rc"
