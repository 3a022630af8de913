#!/usr/bin/env bash
# A benchmark run against older commits beside this tree: each NAME=COMMIT is checked out as a git worktree in a
# temporary folder, `{NAME}` in the command is replaced by its path, and the worktrees are removed afterwards.
#   benchmarks/at_commits.sh NAME=COMMIT [NAME=COMMIT ...] -- COMMAND [ARGS...]
# e.g. the score job before and after a change, alternating in one process (BENCHMARKS.md, issue 23):
#   benchmarks/at_commits.sh before=5605175 -- .venv/bin/python benchmarks/score_speed.py \
#       --catalog ../shared/data/fashion-product-images-small --model runs/combo/export \
#       --tree before={before} --tree now=. --tree before-again={before}
# The commits' own code runs from their worktrees; this tree's .venv serves them all.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A TREES=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    *=*) TREES["${1%%=*}"]="${1#*=}" ;;
    *) echo "at_commits.sh: expected NAME=COMMIT, got '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ "${1:-}" = "--" ] && [ $# -gt 1 ] && [ ${#TREES[@]} -gt 0 ] || {
  echo "usage: benchmarks/at_commits.sh NAME=COMMIT [NAME=COMMIT ...] -- COMMAND [ARGS...]" >&2; exit 2; }
shift
WORK=$(mktemp -d)
cleanup() {
  for name in "${!TREES[@]}"; do git worktree remove --force "$WORK/$name" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for name in "${!TREES[@]}"; do
  git worktree add --quiet --detach "$WORK/$name" "${TREES[$name]}"
  echo "$name: $(git -C "$WORK/$name" log -1 --format='%h %ad %s' --date=short)" >&2
done
ARGS=()
for arg in "$@"; do
  for name in "${!TREES[@]}"; do arg=${arg//\{$name\}/$WORK/$name}; done
  ARGS+=("$arg")
done
"${ARGS[@]}"
