#!/bin/sh
# SPDX-License-Identifier: MIT
# A hostile strategy "command" for tests/e2e/test-regen-llm.c: tries to
# write $1 (outside its scratch tree), then leaves the candidate as a
# symlink out of the tree, and junk in its tree. Neither may land, and
# the junk is removed with the tree.
cat > /dev/null
echo escaped > "$1" 2>/dev/null || true
mkdir -p junk && echo junk > junk/file
rm -f "$DISE_CANDIDATE"
ln -s /bin/true "$DISE_CANDIDATE"
