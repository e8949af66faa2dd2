#!/bin/sh
# SPDX-License-Identifier: MIT
# A hostile strategy "command" for tests/e2e/test-regen-llm.c: tries to
# write $1 (outside its scratch tree), then leaves the candidate as a
# symlink out of the tree. Neither may land.
cat > /dev/null
echo escaped > "$1" 2>/dev/null || true
rm -f "$DISE_CANDIDATE"
ln -s /bin/true "$DISE_CANDIDATE"
