#!/bin/sh
# SPDX-License-Identifier: MIT
# A strategy "command" for tests/e2e/test-regen-llm.c whose fix is slow:
# the crash removed, and half a second added to `version` (the test
# command's path), so its fitness, and its confidence, stay below 1.
set -eu
cat > /dev/null
sed -e '/kill -SEGV/d' -e 's/^\techo 2$/\tsleep 0.5; echo 2/' "$DISE_CANDIDATE" > "$DISE_CANDIDATE.tmp"
chmod 755 "$DISE_CANDIDATE.tmp"
mv "$DISE_CANDIDATE.tmp" "$DISE_CANDIDATE"
