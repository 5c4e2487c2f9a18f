#!/usr/bin/env bash
# Checks that every C++ file of uoe is formatted as .clang-format says (clang-format 14, Debian
# 12's). With --fix, formats them in place instead. Generated files are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$tool" ] || { echo "check_format: clang-format-14 not found (bash launch/setup.sh installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.h' '*.cpp' | grep -v '^src/tokenizer/unicode_tables.cpp$')
if [ "${1:-}" = "--fix" ]; then
  "$tool" -i "${files[@]}"
  exit 0
fi
if ! "$tool" --dry-run --Werror "${files[@]}" 2> /tmp/uoe_format.$$; then
  grep ': error: ' /tmp/uoe_format.$$ | cut -d: -f1 | sort -u | head -20 |
    sed 's/^/check_format: not formatted: /' >&2
  echo "check_format: $(grep -c 'error:' /tmp/uoe_format.$$) places differ from .clang-format; run: bash launch/check_format.sh --fix" >&2
  rm -f /tmp/uoe_format.$$
  exit 1
fi
rm -f /tmp/uoe_format.$$
echo "check_format: ${#files[@]} files formatted as .clang-format says"
