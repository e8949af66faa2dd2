/* SPDX-License-Identifier: MIT */
/*
 * Line diffs for regeneration (regen-diff.h). The longest common
 * subsequence of lines by dynamic programming, after the common head and
 * tail are cut off: a script's versions differ in a few places, so the
 * table is small; one over 16 M cells is refused (-E2BIG), never guessed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-diff.h"

#define MAX_CELLS (16u << 20)

int dise_lines_split(const char *text, size_t len, struct dise_lines *ret)
{
	size_t i, n = 0;

	memset(ret, 0, sizeof(*ret));
	for (i = 0; i < len; i++)
		n += text[i] == '\n';
	n += len && text[len - 1] != '\n'; /* a last line without its newline */
	ret->off = malloc((n + 1) * sizeof(*ret->off));
	if (!ret->off)
		return -ENOMEM;
	ret->text = text;
	ret->off[0] = 0;
	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			ret->off[++ret->n] = i + 1;
	if (ret->n < n)
		ret->off[++ret->n] = len;
	return 0;
}

void dise_lines_free(struct dise_lines *l)
{
	free(l->off);
	memset(l, 0, sizeof(*l));
}

static size_t line_len(const struct dise_lines *l, size_t i)
{
	return l->off[i + 1] - l->off[i];
}

static int line_eq(const struct dise_lines *a, size_t i, const struct dise_lines *b, size_t j)
{
	size_t n = line_len(a, i);

	return n == line_len(b, j) && !memcmp(a->text + a->off[i], b->text + b->off[j], n);
}

/* Appends hunk (a0, a1, p0, p1) to *h. */
static int push(struct dise_hunk **h, size_t *n, size_t a0, size_t a1, size_t p0, size_t p1)
{
	struct dise_hunk *t;

	if (*n >= DISE_DIFF_MAX_HUNKS)
		return -E2BIG;
	t = realloc(*h, (*n + 1) * sizeof(**h));
	if (!t)
		return -ENOMEM;
	*h = t;
	t[(*n)++] = (struct dise_hunk){ a0, a1, p0, p1 };
	return 0;
}

int dise_diff_hunks(const struct dise_lines *a, const struct dise_lines *p, struct dise_hunk **ret, size_t *ret_n)
{
	size_t head = 0, tail = 0, na, np, i, j, w, n = 0, ha = 0, hp = 0;
	struct dise_hunk *h = NULL;
	uint32_t *L;
	int r = 0, open = 0;

	while (head < a->n && head < p->n && line_eq(a, head, p, head))
		head++;
	while (tail < a->n - head && tail < p->n - head && line_eq(a, a->n - 1 - tail, p, p->n - 1 - tail))
		tail++;
	na = a->n - head - tail;
	np = p->n - head - tail;
	if ((na + 1) > MAX_CELLS / (np + 1))
		return -E2BIG;
	w = np + 1;
	L = calloc((na + 1) * w, sizeof(*L)); /* L[i][j]: LCS of a[head+i..] and p[head+j..] */
	if (!L)
		return -ENOMEM;
	for (i = na; i-- > 0;)
		for (j = np; j-- > 0;)
			L[i * w + j] = line_eq(a, head + i, p, head + j) ? L[(i + 1) * w + j + 1] + 1
			      : L[(i + 1) * w + j] >= L[i * w + j + 1] ? L[(i + 1) * w + j] : L[i * w + j + 1];
	for (i = j = 0; r == 0 && (i < na || j < np);) {
		if (i < na && j < np && line_eq(a, head + i, p, head + j)) {
			if (open)
				r = push(&h, &n, head + ha, head + i, head + hp, head + j);
			open = 0;
			i++, j++;
			continue;
		}
		if (!open)
			ha = i, hp = j, open = 1;
		if (j >= np || (i < na && L[(i + 1) * w + j] >= L[i * w + j + 1]))
			i++;
		else
			j++;
	}
	if (r == 0 && open)
		r = push(&h, &n, head + ha, head + i, head + hp, head + j);
	free(L);
	if (r < 0) {
		free(h);
		return r;
	}
	*ret = h;
	*ret_n = n;
	return 0;
}

struct buf {
	char *s;
	size_t len, cap;
	int bad;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *t = realloc(b->s, cap);

		if (!t) {
			b->bad = 1;
			return;
		}
		b->s = t, b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* lines [i0, i1) of l into b, each after prefix (NULL: none); a last line without '\n' gets one after a prefix */
static void put_lines(struct buf *b, const struct dise_lines *l, size_t i0, size_t i1, const char *prefix)
{
	for (size_t i = i0; i < i1; i++) {
		size_t n = line_len(l, i);

		if (prefix)
			put(b, prefix, 1);
		put(b, l->text + l->off[i], n);
		if (prefix && (!n || l->text[l->off[i] + n - 1] != '\n'))
			put(b, "\n\\ No newline at end of file\n", 30);
	}
}

char *dise_diff_apply(const struct dise_lines *a, const struct dise_lines *p, const struct dise_hunk *h, size_t n,
		      uint64_t revert, size_t *len, const char *name, char **unified)
{
	struct buf out = { 0 }, u = { 0 };
	size_t k, at = 0, line = 0; /* at: next line of p; line: lines written so far */

	put(&out, "", 0);
	if (unified) {
		char head[8300];
		int m = snprintf(head, sizeof(head), "--- a/%s\n+++ b/%s\n", name, name);

		put(&u, head, (size_t)m < sizeof(head) ? (size_t)m : sizeof(head) - 1);
	}
	for (k = 0; k < n; k++) {
		int back = (revert >> k) & 1;

		line += h[k].p0 - at;
		put_lines(&out, p, at, h[k].p0, NULL);
		if (back) {
			put_lines(&out, a, h[k].a0, h[k].a1, NULL);
			line += h[k].a1 - h[k].a0;
		} else {
			if (unified) {
				char hh[128];
				size_t da = h[k].a1 - h[k].a0, dp = h[k].p1 - h[k].p0;
				/* -U0: a range of no lines names the line before it */
				int m = snprintf(hh, sizeof(hh), "@@ -%zu,%zu +%zu,%zu @@\n", da ? h[k].a0 + 1 : h[k].a0, da,
						 dp ? line + 1 : line, dp);

				put(&u, hh, (size_t)m);
				put_lines(&u, a, h[k].a0, h[k].a1, "-");
				put_lines(&u, p, h[k].p0, h[k].p1, "+");
			}
			put_lines(&out, p, h[k].p0, h[k].p1, NULL);
			line += h[k].p1 - h[k].p0;
		}
		at = h[k].p1;
	}
	put_lines(&out, p, at, p->n, NULL);
	if (out.bad || u.bad) {
		free(out.s);
		free(u.s);
		return NULL;
	}
	*len = out.len;
	if (unified)
		*unified = u.s;
	return out.s;
}
