#!/usr/bin/env bash
# Builds the DocC catalog (Sources/ThreadKill/ThreadKill.docc) with the
# toolchain's own swift-symbolgraph-extract and docc: no swift-docc-plugin, so
# the package keeps declaring no package dependencies (Docs/Dependencies.md).
# Fails if the conversion prints any warning (a broken symbol link, an
# undocumented parameter, ...). Output: $DOCC_OUT (default: a temporary dir).
set -euo pipefail
cd "$(dirname "$0")/.."

triple=$(swift -print-target-info | sed -n 's/^ *"triple": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
work=${DOCC_OUT:-$(mktemp -d /tmp/threadkill-docc.XXXXXX)}
mkdir -p "$work/symbol-graphs"

swift build --target ThreadKill
bin=$(swift build --show-bin-path)

# The same module-map flags SwiftPM passes when it compiles ThreadKill
# (`swift build -v`): CPthreadShim is a C target with a generated module map.
swift-symbolgraph-extract \
  -module-name ThreadKill \
  -target "$triple" \
  -sdk / \
  -I "$bin/Modules" \
  -Xcc -fmodule-map-file="$bin/CPthreadShim.build/module.modulemap" \
  -Xcc -I -Xcc Sources/CPthreadShim/include \
  -minimum-access-level public \
  -output-dir "$work/symbol-graphs" 2>&1 | tee "$work/extract.log"

docc convert Sources/ThreadKill/ThreadKill.docc \
  --fallback-display-name ThreadKill \
  --fallback-bundle-identifier org.threadkill.ThreadKill \
  --additional-symbol-graph-dir "$work/symbol-graphs" \
  --analyze \
  --output-path "$work/ThreadKill.doccarchive" 2>&1 | tee "$work/convert.log"

warnings=$(cat "$work/extract.log" "$work/convert.log" | grep -c 'warning:' || true)
if [ "$warnings" -ne 0 ]; then
  echo "error: DocC printed $warnings warning(s)" >&2
  exit 1
fi
echo "DocC: no warnings; archive at $work/ThreadKill.doccarchive"
