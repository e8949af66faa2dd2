/* SPDX-License-Identifier: MIT */
/*
 * Line diffs for regeneration (regen-diff.c): the changes from a healthy
 * ancestor's text to a pruned version's, cut into hunks; the pruned text
 * with any set of hunks reverted; a unified diff (no context) of the result.
 */
#ifndef DISE_REGEN_DIFF_H
#define DISE_REGEN_DIFF_H

#include <stddef.h>
#include <stdint.h>

#define DISE_DIFF_MAX_HUNKS 64 /* a revert set is a 64-bit mask */

struct dise_lines {
	const char *text;
	size_t n;
	size_t *off; /* n + 1 offsets: line i is text[off[i] .. off[i + 1]), its '\n' included */
};
/* text (len bytes, kept by the caller) cut into lines. 0 or -ENOMEM. */
int dise_lines_split(const char *text, size_t len, struct dise_lines *ret);
void dise_lines_free(struct dise_lines *l);

/* Ancestor lines [a0, a1) became pruned lines [p0, p1). */
struct dise_hunk {
	size_t a0, a1, p0, p1;
};
/*
 * The hunks from a to p (a longest common subsequence of lines), in order:
 * *ret (to free), *n. Returns 0, -E2BIG when the texts are too large to
 * compare or have more than DISE_DIFF_MAX_HUNKS hunks, or -ENOMEM.
 */
int dise_diff_hunks(const struct dise_lines *a, const struct dise_lines *p, struct dise_hunk **ret, size_t *n);
/*
 * p with the hunks whose bit is set in revert given back a's lines: a new
 * text (to free), its length in *len. With unified (may be NULL): the
 * unified diff, no context lines, from a to that text (to free), named name.
 */
char *dise_diff_apply(const struct dise_lines *a, const struct dise_lines *p, const struct dise_hunk *h, size_t n,
		      uint64_t revert, size_t *len, const char *name, char **unified);

#endif
