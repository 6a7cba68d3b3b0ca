#!/usr/bin/env bash
# "Nothing needs root": runs the ava suite as an unprivileged user with every
# capability dropped (setpriv from util-linux), when this script runs as root.
# Tests that depend on a privilege (CAP_WAKE_ALARM for the *_ALARM clocks,
# CAP_SYS_TIME for the clock-jump test) read their capabilities and expect the
# precise errno without them; so this run checks both that nothing else needs
# root and that the unprivileged branches hold.
#
# As a non-root user the regular `npm test` already is this run; the script
# says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "not root: npm test already ran unprivileged"
  exit 0
fi
if ! command -v setpriv >/dev/null; then
  echo "setpriv (util-linux) is missing; cannot drop privileges" >&2
  exit 1
fi
user=nobody
uid=$(id -u "$user")
gid=$(id -g "$user")
# The suite needs to read the checkout and write only under the temp dir.
home=$(mktemp -d)
chown "$uid:$gid" "$home"
copy=
trap 'rm -rf "$home" ${copy:+"$copy"}' EXIT
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
if ! as_user test -r "$PWD/package.json" -a -x "$PWD/node_modules"; then
  # A checkout under a private directory (root's home, say): run a copy.
  copy=$(mktemp -d)
  chmod 755 "$copy"
  echo "$user cannot read $(basename "$PWD"); running from a copy in $copy"
  # The tracked files, plus the git-ignored build outputs the suite loads:
  # node_modules, the addon and dist/ (tsc's output, which index.js requires;
  # without it every spec failed on a fresh clone under a mode-700 directory).
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$copy"
  cp -a node_modules dist ./*.node "$copy"/
  cd "$copy"
fi
echo "running the ava suite as $user ($uid:$gid), no capabilities"
as_user env HOME="$home" TMPDIR="$home" npm_config_cache="$home/.npm" \
  node node_modules/ava/entrypoints/cli.mjs "$@"
