#!/usr/bin/env bash
# The Dockerfile's build, without Docker: what the image's /app holds, in OUT (default ./image-root).
# npm ci, build (bundle) to dist/, npm prune --omit=dev, then the runtime files only. Start it with
#   node OUT/bin/lbdns.js --objects … (Node 24), as the image's ENTRYPOINT does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$here/image-root"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The build stage's COPY lines (the addon's sources before npm ci, whose install step builds it;
# its apt-get line is the machine's: python3, make and g++, as .ci/run installs them).
cp "$here/package.json" "$here/package-lock.json" "$here/binding.gyp" "$here/tsconfig.json" "$work/"
mkdir -p "$work/scripts"
cp "$here/scripts/build-addon.js" "$here/scripts/build.js" "$work/scripts/"
cp -r "$here/native" "$here/bin" "$here/src" "$here/config" "$work/"
cd "$work"
npm ci --no-fund --no-audit
npm run build
npm prune --omit=dev --no-fund --no-audit

# The run stage's COPY lines (all but busybox's ip, which goes outside /app; node-local mode only).
rm -rf "$out"
mkdir -p "$out/config"
cp -r package.json node_modules bin dist "$out/"
# The addon, if it was built (without a compiler the install step says why and lbdns serves dgram).
if [ -f build/Release/lbdns_native.node ]; then
  mkdir -p "$out/build/Release"
  cp build/Release/lbdns_native.node "$out/build/Release/"
fi
cp config/lbdns.yaml "$out/config/"
echo "image contents in $out"
