/* SPDX-License-Identifier: MIT */
/*
 * A unified diff from an untrusted author (a model's answer, regen-llm.c)
 * applied to the one file of a scratch tree, in memory (regen-patch.c):
 * every path it names must be that file (no absolute path, no "..", no
 * other file, no creation, deletion, rename, mode or symlink change), no
 * binary patch; each hunk must match its old lines exactly (at its line,
 * or the nearest place after the previous hunk).
 */
#ifndef DISE_REGEN_PATCH_H
#define DISE_REGEN_PATCH_H

#include <stddef.h>

/*
 * The diff inside answer: the body of its first ``` fence if it has one,
 * else answer itself; a new string (to free), NULL when out of memory.
 */
char *dise_patch_extract(const char *answer);

/*
 * diff (dlen bytes) applied to text (len bytes), the file called name:
 * the new text in *out (to free), its length in *outlen. Returns 0, or
 * -EPERM (a path out of bounds, a binary or mode patch), -EINVAL (not a
 * diff, or a hunk that does not apply), -ENOMEM; why says which in one line.
 */
int dise_patch_apply(const char *text, size_t len, const char *diff, size_t dlen, const char *name, char **out,
		     size_t *outlen, char *why, size_t size);

#endif
