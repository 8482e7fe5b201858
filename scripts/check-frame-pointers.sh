#!/usr/bin/env bash
# Hijacked returns (Docs/SafetyModel.md) read frame records only through code
# that never keeps data in the frame-pointer register: the program's own code
# and the Swift runtime libraries listed in tk_is_swift_runtime
# (Sources/CPthreadShim/CPthreadShim_async.c). This checks that premise for the
# installed toolchain: no instruction in those libraries writes rbp except
# setting up a frame (mov %rsp,%rbp; lea N(%rsp),%rbp and btr for async frames)
# or restoring one (pop, leave — which name no destination operand).
set -euo pipefail
libdir=$(dirname "$(swift -print-target-info | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')")/swift/linux
[ -d "$libdir" ] || libdir=$(swift -print-target-info | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')/linux
status=0
for name in libswiftCore libswift_Concurrency libswiftSynchronization libswift_StringProcessing libswift_RegexParser libswiftSwiftOnoneSupport libswiftGlibc; do
  lib=$libdir/$name.so
  if [ ! -f "$lib" ]; then echo "check-frame-pointers: $lib not found" >&2; status=1; continue; fi
  writes=$(objdump -d --no-show-raw-insn "$lib" | awk -F'\t' 'NF >= 2 {
      i = $2
      if (i ~ /,%(rbp|ebp|bp|bpl)$/ && i !~ /^mov +%rsp,%rbp$/ && i !~ /^lea +0x[0-9a-f]+\(%rsp\),%rbp$/ && i !~ /^btr +\$0x3c,%rbp$/ && i !~ /^(test|cmp)/) print i
    }' | wc -l)
  if [ "$writes" -ne 0 ]; then
    echo "check-frame-pointers: $name writes data to rbp in $writes instructions: remove it from tk_is_swift_runtime" >&2
    status=1
  else
    echo "check-frame-pointers: $name keeps frame pointers"
  fi
done
exit $status
