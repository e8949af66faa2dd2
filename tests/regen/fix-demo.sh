#!/bin/sh
# SPDX-License-Identifier: MIT
# A strategy "command" for tests/e2e/test-regen-llm.c: reads the context
# (JSON) on stdin, checks it names the file and the scratch tree, and fixes
# the demo's crash in the candidate ($DISE_CANDIDATE, the pruned text):
# the `kill -SEGV` line removed. When an operator refused an earlier
# attempt ("too risky" in the context), it fixes it another way: the line
# made a comment.
set -eu
ctx=$(cat)
case $ctx in *'"file"'*'"scratch"'*) ;; *) echo "fix-demo: no context on stdin" >&2; exit 2 ;; esac
if printf '%s' "$ctx" | grep -q 'too risky'; then
	sed 's/kill -SEGV \$\$/: kill removed after a refusal/' "$DISE_CANDIDATE" > "$DISE_CANDIDATE.tmp"
else
	sed '/kill -SEGV/d' "$DISE_CANDIDATE" > "$DISE_CANDIDATE.tmp"
fi
chmod 755 "$DISE_CANDIDATE.tmp"
mv "$DISE_CANDIDATE.tmp" "$DISE_CANDIDATE"
