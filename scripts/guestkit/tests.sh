# Guest tests, sourced by /init. test_<name> runs for vutest=<name> (dashes become
# underscores), prints "VUTEST RESULT key=value" lines through result(), and returns
# non-zero when it could not do its job. Whether the values are right is the host's call.
#
# Parameters (kernel command line): vu_mib=<MiB> region size, vu_seed=<n> pattern seed,
# vu_jobs=<n> fio jobs (default: number of CPUs).

DISK=/dev/vda
SYS=/sys/block/vda

# Size of the test region in MiB, bounded by the disk.
region_mib() {
  local want disk_mib
  want="$(param vu_mib "$1")"
  disk_mib=$(( $(cat $SYS/size) / 2048 ))
  [ "$want" -gt "$disk_mib" ] && want=$disk_mib
  echo "$want"
}

# sha256 of the first $1 MiB of the disk, read with O_DIRECT so the backend serves it.
disk_sha256() {
  dd if=$DISK bs=1M count="$1" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
}

# The restart/pattern tests' data: "vublk-pattern-<seed>\n" repeated, cut to $2 MiB.
pattern() {
  yes "vublk-pattern-$1" | head -c $(( $2 * 1048576 ))
}

# Field $1 (1-based) of /sys/block/vda/stat: 12 = discards completed, 16 = flushes completed.
disk_stat() {
  set -- "$1" $(cat $SYS/stat)
  shift "$1"
  echo "${1:-0}"
}

# Interrupts per request virtqueue, so the host can see that every queue was used.
queue_usage() {
  grep -E 'virtio[0-9]+-req' /proc/interrupts | while read -r irq cpu0 rest; do
    local total=0 v
    for v in $cpu0 $rest; do
      case "$v" in *[!0-9]*) break ;; esac
      total=$((total + v))
    done
    result "irq_${rest##* }" "$total"
  done
}

disk_shape() {
  result size $(( $(cat $SYS/size) * 512 ))
  result ro "$(cat $SYS/ro)"
  result queues "$(ls $SYS/mq | wc -l)"
}

# cloud-hypervisor's vhost-user-blk case: size, read-only flag, queue count, file foo.
test_ch_ext4() {
  disk_shape
  local opts=rw
  [ "$(cat $SYS/ro)" = 1 ] && opts=ro
  if mount -t ext4 -o $opts $DISK /mnt; then
    result mount ok
    result foo "$(cat /mnt/foo)"
    umount /mnt || { result umount failed; return 1; }
  else
    result mount failed
    return 1
  fi
}

# A read-only disk must refuse writes; report what happened.
test_ro_write() {
  result ro "$(cat $SYS/ro)"
  result before_sha256 "$(disk_sha256 1)"
  if dd if=/dev/zero of=$DISK bs=4096 count=1 oflag=direct conv=fsync 2>/tmp/dd.err; then
    result write succeeded
  else
    result write failed
    result write_error "$(grep -v records /tmp/dd.err | head -1)"
  fi
  result after_sha256 "$(disk_sha256 1)"
}

# Prints fio's error code of job group $1 from its output file $2.
fio_err() {
  sed -n 's/.*err= *\([0-9]*\).*/\1/p' "$2" | head -1
}

run_fio() {
  local label="$1" rw="$2" bs="$3" mib="$4" jobs="$5" engine=psync depth=1
  [ -e /lib/libaio.so.1 ] && engine=libaio && depth=8
  fio --name="$label" --filename=$DISK --direct=1 --ioengine=$engine --iodepth=$depth \
      --rw="$rw" --bs="$bs" --size=$((mib / jobs))M --numjobs="$jobs" \
      --offset_increment=$((mib / jobs))M --thread --group_reporting \
      --cpus_allowed=0-$((jobs - 1)) --cpus_allowed_policy=split \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --randseed=4242 \
      > /tmp/fio.$label.out 2>&1
  local rc=$?
  result "fio_${label}_exit" "$rc"
  result "fio_${label}_err" "$(fio_err "$label" /tmp/fio.$label.out)"
  result "fio_${label}_engine" "$engine"
  if [ $rc -ne 0 ]; then
    echo "--- fio $label output ---"
    tail -40 /tmp/fio.$label.out
  fi
  return $rc
}

# fio writes and verifies the region (4k random, then 64k sequential), then the region's
# sha256 is printed for the host to compare with the image file.
test_fio_verify() {
  disk_shape
  local mib jobs
  mib="$(region_mib 64)"
  jobs="$(param vu_jobs "$(nproc)")"
  [ $((mib % jobs)) -eq 0 ] || jobs=1
  result mib "$mib"
  result jobs "$jobs"
  local ok=0
  run_fio rand randwrite 4k "$mib" "$jobs" || ok=1
  run_fio seq write 64k "$mib" "$jobs" || ok=1
  result sha256 "$(disk_sha256 "$mib")"
  queue_usage
  return $ok
}

# Buffered writes followed by fsync: with a write-back cache the block layer sends FLUSH.
test_fsync_flush() {
  local mib before
  mib="$(region_mib 4)"
  result initial_write_cache "$(cat $SYS/queue/write_cache)"
  # A device that offers CONFIG_WCE may start in write-through; switch it (virtio_blk's
  # cache_type writes the config's writeback field) so that fsync has to send FLUSH.
  if [ "$(cat $SYS/queue/write_cache)" != "write back" ] && [ -w $SYS/cache_type ]; then
    echo "write back" > $SYS/cache_type 2>/dev/null || true
  fi
  result write_cache "$(cat $SYS/queue/write_cache)"
  result mib "$mib"
  before="$(disk_stat 16)"
  if pattern "$(param vu_seed 1)" "$mib" | dd of=$DISK bs=1M conv=fsync 2>/dev/null; then
    result fsync ok
  else
    result fsync failed
    return 1
  fi
  result flushes $(( $(disk_stat 16) - before ))
  result pattern_sha256 "$(pattern "$(param vu_seed 1)" "$mib" | sha256sum | cut -d' ' -f1)"
  result sha256 "$(disk_sha256 "$mib")"
}

# Discards the first $1 MiB and reports how it went and how many discards completed.
discard_region() {
  local before
  before="$(disk_stat 12)"
  if blkdiscard -o 0 -l $(($1 * 1048576)) $DISK 2>/tmp/discard.err; then
    result discard ok
  else
    result discard failed
    result discard_error "$(head -1 /tmp/discard.err)"
  fi
  result discards $(( $(disk_stat 12) - before ))
}

# Discard, then (util-linux) write-zeroes of a written range; the zeroed range must read 0.
test_discard() {
  local mib zero_sha
  mib="$(region_mib 2)"
  result mib "$mib"
  result discard_max_bytes "$(cat $SYS/queue/discard_max_bytes)"
  result write_zeroes_max_bytes "$(cat $SYS/queue/write_zeroes_max_bytes)"
  pattern 7 "$mib" | dd of=$DISK bs=1M oflag=direct conv=fsync 2>/dev/null || { result write failed; return 1; }
  discard_region "$mib"
  pattern 7 "$mib" | dd of=$DISK bs=1M oflag=direct conv=fsync 2>/dev/null || { result write failed; return 1; }
  if /usr/sbin/blkdiscard -z -o 0 -l $((mib * 1048576)) $DISK 2>/tmp/zero.err; then
    result write_zeroes ok
  else
    result write_zeroes failed
    result write_zeroes_error "$(head -1 /tmp/zero.err)"
  fi
  zero_sha="$(head -c $((mib * 1048576)) /dev/zero | sha256sum | cut -d' ' -f1)"
  result zero_sha256 "$zero_sha"
  result sha256 "$(disk_sha256 "$mib")"
}

# Restart test, first boot: write the pattern durably and read it back.
test_write_pattern() {
  local mib seed want got
  mib="$(region_mib 8)"
  seed="$(param vu_seed 1)"
  result mib "$mib"
  want="$(pattern "$seed" "$mib" | sha256sum | cut -d' ' -f1)"
  result pattern_sha256 "$want"
  pattern "$seed" "$mib" | dd of=$DISK bs=1M oflag=direct conv=fsync 2>/dev/null || { result write failed; return 1; }
  sync
  got="$(disk_sha256 "$mib")"
  result sha256 "$got"
  [ "$got" = "$want" ]
}

# Restart test, later boot (or after a backend restart): the pattern must still be there.
test_read_pattern() {
  local mib seed want got
  mib="$(region_mib 8)"
  seed="$(param vu_seed 1)"
  result mib "$mib"
  want="$(pattern "$seed" "$mib" | sha256sum | cut -d' ' -f1)"
  result pattern_sha256 "$want"
  got="$(disk_sha256 "$mib")"
  result sha256 "$got"
  if [ "$got" = "$want" ]; then result match yes; else result match no; return 1; fi
}

# Live backend restart: write the pattern durably, announce it, give the host time to kill
# and replace the backend, then read it back. Reads issued while no backend is there wait in
# the ring until the new one picks them up.
test_restart() {
  test_write_pattern || return 1
  result written yes
  sleep "$(param vu_wait 8)"
  test_read_pattern
}

# Online resize: write the pattern durably, announce the size, wait (vu_wait seconds at most)
# for the host to resize the disk under the running guest, then read the pattern back and
# write and read 1 MiB past the old end. The host triggers the resize once it sees "written".
test_resize() {
  local before after waited=0 limit tail
  test_write_pattern || return 1
  before="$(cat $SYS/size)"
  result size_before $(( before * 512 ))
  result written yes
  limit="$(param vu_wait 120)"
  while [ "$(cat $SYS/size)" = "$before" ]; do
    [ "$waited" -ge "$limit" ] && { result resized no; return 1; }
    sleep 1
    waited=$((waited + 1))
  done
  after="$(cat $SYS/size)"
  result size_after $(( after * 512 ))
  test_read_pattern || return 1
  [ "$after" -ge $(( before + 2048 )) ] || return 0 # no room past the old end to try
  tail=$(( before / 2048 ))
  result tail_pattern_sha256 "$(pattern 77 1 | sha256sum | cut -d' ' -f1)"
  pattern 77 1 | dd of=$DISK bs=1M seek="$tail" oflag=direct conv=fsync 2>/dev/null || { result tail_write failed; return 1; }
  result tail_sha256 "$(dd if=$DISK bs=1M skip="$tail" count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
}

# Discard alone (no rewrite afterwards), so the host can see the image give the space back.
test_trim() {
  local mib
  mib="$(region_mib 4)"
  result mib "$mib"
  discard_region "$mib"
  result sha256 "$(disk_sha256 "$mib")"
}

# Kernel log lines that mean the guest saw a failed or malformed completion: I/O errors on
# the disk, or a used-ring entry for a request the driver did not have in flight.
kernel_errors() {
  dmesg | grep -E 'I/O error|not a head|Buffer I/O|blk_update_request|critical (medium|target)'
}

# fio's verified writes in rounds until vu_secs (default 20) have passed and at least
# vu_rounds (default 1) rounds ran: odd rounds 4k random, even rounds 64k sequential, each
# with its own seed. "started" is announced before the first round, so the host can break
# things (restart the backend, migrate the guest) while fio runs. Reports the rounds, the
# failed ones, the kernel's error lines, and the region's sha256 for the host to compare.
test_fio_loop() {
  disk_shape
  local mib jobs secs rounds start round=0 failed=0 engine=psync depth=1 rw bs errors
  mib="$(region_mib 16)"
  jobs="$(param vu_jobs "$(nproc)")"
  [ $((mib % jobs)) -eq 0 ] || jobs=1
  secs="$(param vu_secs 20)"
  rounds="$(param vu_rounds 1)"
  [ -e /lib/libaio.so.1 ] && engine=libaio && depth=8
  result mib "$mib"
  result jobs "$jobs"
  result started yes
  start="$(cut -d. -f1 /proc/uptime)"
  while [ "$round" -lt "$rounds" ] || [ $(( $(cut -d. -f1 /proc/uptime) - start )) -lt "$secs" ]; do
    round=$((round + 1))
    if [ $((round % 2)) -eq 1 ]; then rw=randwrite bs=4k; else rw=write bs=64k; fi
    if ! fio --name="loop$round" --filename=$DISK --direct=1 --ioengine=$engine --iodepth=$depth \
        --rw="$rw" --bs="$bs" --size=$((mib / jobs))M --numjobs="$jobs" \
        --offset_increment=$((mib / jobs))M --thread --group_reporting \
        --verify=crc32c --do_verify=1 --verify_fatal=1 --randseed=$((4242 + round)) \
        > /tmp/fio.loop.out 2>&1; then
      failed=$((failed + 1))
      echo "--- fio round $round ($rw $bs) output ---"
      tail -30 /tmp/fio.loop.out
    fi
  done
  result rounds "$round"
  result failed_rounds "$failed"
  errors="$(kernel_errors)"
  result kernel_errors "$(printf '%s' "$errors" | grep -c .)"
  [ -n "$errors" ] && { echo "--- kernel errors ---"; printf '%s\n' "$errors" | head -20; }
  result seconds $(( $(cut -d. -f1 /proc/uptime) - start ))
  result sha256 "$(disk_sha256 "$mib")"
  queue_usage
  [ "$failed" -eq 0 ] && [ -z "$errors" ]
}

# The host's word in the mailbox of a $1 MiB region: the 4 KiB block 1 MiB past the region,
# read with O_DIRECT so that every look asks the backend (the host writes the image file).
mailbox() {
  dd if=$DISK bs=4096 skip=$(( ($1 + 1) * 256 )) count=1 iflag=direct 2>/dev/null | head -c 16 | tr -cd 'a-z'
}

# Waits up to vu_wait (120) seconds for the host to write $2 into the mailbox of a $1 MiB region.
await_host() {
  local tries=0 limit
  limit=$(( $(param vu_wait 120) * 10 ))
  while [ "$(mailbox "$1")" != "$2" ]; do
    [ "$tries" -ge "$limit" ] && return 1
    sleep 0.1
    tries=$((tries + 1))
  done
}

# How many of the first $1 MiB differ between the page cache and the disk (read with O_DIRECT).
stale_mib() {
  local i=0 n=0
  while [ "$i" -lt "$1" ]; do
    [ "$(dd if=$DISK bs=1M skip="$i" count=1 2>/dev/null | sha256sum)" = \
      "$(dd if=$DISK bs=1M skip="$i" count=1 iflag=direct 2>/dev/null | sha256sum)" ] || n=$((n + 1))
    i=$((i + 1))
  done
  echo "$n"
}

# Live migration through the page cache, where only the backend writes guest memory: the
# region holds the pattern (test_write_pattern) and no page of it is cached ("ready"); on
# the host's word "fill" (sent once most of RAM went over and the migration is held) a
# buffered read makes the backend fill fresh page-cache pages the guest's CPU never writes
# ("filled"; the guest must boot with init_on_alloc=0, or the kernel zeroes each page first
# and QEMU may send it again for that); on "check" (sent once the guest left the source) the
# region is read again from the page cache: those pages are right only if the source's
# backend logged its writes and QEMU sent them again. Reports cache_check_reads (sectors read
# from the disk during the cached read: 0 when it all came from the cache), cached_sha256,
# direct_sha256 (read with O_DIRECT), stale_mib (MiB that differ) when those two differ, and
# kernel_errors; whether they are right is the host's call.
test_cache_migrate() {
  local mib cached direct before
  test_write_pattern || return 1
  mib="$(region_mib 8)"
  echo 3 > /proc/sys/vm/drop_caches
  # The kernel drops a block device's page cache when its last opener closes it: hold it open.
  exec 3<$DISK
  result ready yes
  await_host "$mib" fill || { exec 3<&-; result fill no-word; return 1; }
  dd if=$DISK bs=1M count="$mib" of=/dev/null 2>/dev/null || { exec 3<&-; result fill failed; return 1; }
  result filled yes
  await_host "$mib" check || { exec 3<&-; result check no-word; return 1; }
  before="$(disk_stat 3)"
  cached="$(dd if=$DISK bs=1M count="$mib" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  result cache_check_reads $(( $(disk_stat 3) - before ))
  result cached_sha256 "$cached"
  direct="$(disk_sha256 "$mib")"
  result direct_sha256 "$direct"
  [ "$cached" = "$direct" ] || result stale_mib "$(stale_mib "$mib")"
  exec 3<&-
  result kernel_errors "$(kernel_errors | grep -c .)"
}
