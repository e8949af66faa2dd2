/* SPDX-License-Identifier: MIT */
/* A model's unified diff on the scratch tree's one file, in memory, bounded (regen-patch.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-diff.h"
#include "regen-patch.h"

#define MAX_HUNKS 256

struct phunk {
	size_t old_at;	  /* 1-based line of -a,b (0 with b == 0: before the first line) */
	size_t first, end; /* its body: diff lines [first, end) */
	size_t nold;
};

char *dise_patch_extract(const char *answer)
{
	const char *f = strstr(answer, "```"), *body, *e;

	if (!f)
		return strdup(answer);
	body = strchr(f, '\n');
	if (!body)
		return strdup("");
	body++;
	e = strstr(body, "\n```");
	return strndup(body, e ? (size_t)(e - body) + 1 : strlen(body));
}

/* What a line that starts with one of these would do: never allowed. */
static const char *forbidden(const char *l, size_t n)
{
	static const char *const bad[] = { "GIT binary patch", "Binary files", "literal ", "delta ", "new file mode",
					   "deleted file mode", "old mode", "new mode", "rename from", "rename to",
					   "copy from", "copy to", "similarity index" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (n >= strlen(bad[i]) && !strncmp(l, bad[i], strlen(bad[i])))
			return bad[i];
	return NULL;
}

/* The path of a ---/+++ line (l: after "--- ") is name: 0, else -EPERM with why. */
static int check_path(const char *l, size_t n, const char *name, char *why, size_t size)
{
	char path[4096];
	const char *p = path;
	size_t k = strcspn(l, "\t");

	if (k > n)
		k = n;
	while (k && (l[k - 1] == ' ' || l[k - 1] == '\r' || l[k - 1] == '\n'))
		k--;
	if (k >= sizeof(path)) {
		snprintf(why, size, "a path in the diff is too long");
		return -EPERM;
	}
	memcpy(path, l, k);
	path[k] = '\0';
	if (path[0] == '/') {
		snprintf(why, size, "the diff names an absolute path (%.200s): refused", path);
		return -EPERM;
	}
	if (!strcmp(path, "..") || !strncmp(path, "../", 3) || strstr(path, "/../") ||
	    (k >= 3 && !strcmp(path + k - 3, "/.."))) {
		snprintf(why, size, "the diff names a path out of the scratch tree (%.200s): refused", path);
		return -EPERM;
	}
	if (!strncmp(p, "a/", 2) || !strncmp(p, "b/", 2))
		p += 2;
	if (strcmp(p, name)) {
		snprintf(why, size, "the diff names %.200s: only %.200s is in the scratch tree: refused", path, name);
		return -EPERM;
	}
	return 0;
}

/* "@@ -a[,b] +c[,d] @@" into h: 0, or -EINVAL. */
static int hunk_head(const char *l, struct phunk *h, size_t *nnew)
{
	unsigned long a, b = 1, c, d = 1;
	char *e;

	if (strncmp(l, "@@ -", 4))
		return -EINVAL;
	a = strtoul(l + 4, &e, 10);
	if (*e == ',')
		b = strtoul(e + 1, &e, 10);
	if (strncmp(e, " +", 2))
		return -EINVAL;
	c = strtoul(e + 2, &e, 10);
	if (*e == ',')
		d = strtoul(e + 1, &e, 10);
	if (strncmp(e, " @@", 3) || b > 1000000 || d > 1000000)
		return -EINVAL;
	(void)c;
	h->old_at = a;
	h->nold = b;
	*nnew = d;
	return 0;
}

/* The diff's lines, their hunks checked. 0, or -errno with why. */
static int parse(const struct dise_lines *dl, const char *name, struct phunk *hs, size_t *nh, char *why, size_t size)
{
	size_t i = 0, files = 0;
	int r;

	*nh = 0;
	while (i < dl->n) {
		const char *l = dl->text + dl->off[i];
		size_t n = dl->off[i + 1] - dl->off[i];
		const char *bad = forbidden(l, n);

		if (bad) {
			snprintf(why, size, "the diff holds \"%s\": only text changes to %.200s are applied", bad, name);
			return -EPERM;
		}
		if (n > 4 && (!strncmp(l, "--- ", 4) || !strncmp(l, "+++ ", 4))) {
			if ((r = check_path(l + 4, n - 4, name, why, size)) < 0)
				return r;
			files += l[0] == '-';
			if (files > 1) {
				snprintf(why, size, "the diff changes more than one file: only %.200s is in the scratch tree", name);
				return -EPERM;
			}
			i++;
			continue;
		}
		if (n > 2 && !strncmp(l, "@@", 2)) {
			struct phunk *h = &hs[*nh];
			size_t nnew, o = 0, w = 0;

			if (*nh >= MAX_HUNKS || hunk_head(l, h, &nnew) < 0) {
				snprintf(why, size, "hunk %zu: a header the diff cannot be read by (or over %d hunks)", *nh + 1,
					 MAX_HUNKS);
				return -EINVAL;
			}
			h->first = ++i;
			while (i < dl->n && (o < h->nold || w < nnew)) {
				char c = dl->text[dl->off[i]];

				if (c == ' ' || c == '\n')
					o++, w++;
				else if (c == '-')
					o++;
				else if (c == '+')
					w++;
				else if (c != '\\')
					break;
				i++;
			}
			while (i < dl->n && dl->text[dl->off[i]] == '\\')
				i++;
			h->end = i;
			if (o != h->nold || w != nnew) {
				snprintf(why, size, "hunk %zu: its body does not hold the lines its header counts", *nh + 1);
				return -EINVAL;
			}
			(*nh)++;
			continue;
		}
		i++; /* prose around the diff */
	}
	if (!*nh) {
		snprintf(why, size, "no hunk in the answer: a unified diff was asked for");
		return -EINVAL;
	}
	return 0;
}

/* Diff line k's text (after its first byte), without its '\n'. */
static void body_line(const struct dise_lines *dl, size_t k, const char **s, size_t *n)
{
	size_t len = dl->off[k + 1] - dl->off[k];

	*s = dl->text + dl->off[k] + (len ? 1 : 0);
	*n = len ? len - 1 : 0;
	if (*n && (*s)[*n - 1] == '\n')
		(*n)--;
	if (len == 1 && dl->text[dl->off[k]] == '\n') /* an empty context line whose space was lost */
		*n = 0;
}

/* Whether hunk h's old lines are the text's at line at (0-based). */
static int matches(const struct dise_lines *tl, const struct dise_lines *dl, const struct phunk *h, size_t at)
{
	size_t t = at;

	for (size_t k = h->first; k < h->end; k++) {
		char c = dl->text[dl->off[k]];
		const char *s;
		size_t n, tn;

		if (c == '+' || c == '\\')
			continue;
		if (t >= tl->n)
			return 0;
		body_line(dl, k, &s, &n);
		tn = tl->off[t + 1] - tl->off[t];
		if (tn && tl->text[tl->off[t] + tn - 1] == '\n')
			tn--;
		if (tn != n || memcmp(tl->text + tl->off[t], s, n))
			return 0;
		t++;
	}
	return 1;
}

static int put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 2 > *cap) {
		size_t c = (*cap + n + 2) * 2;
		char *b = realloc(*buf, c);

		if (!b)
			return -ENOMEM;
		*buf = b, *cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

int dise_patch_apply(const char *text, size_t len, const char *diff, size_t dlen, const char *name, char **out,
		     size_t *outlen, char *why, size_t size)
{
	struct dise_lines tl = { 0 }, dl = { 0 };
	struct phunk *hs = calloc(MAX_HUNKS, sizeof(*hs));
	size_t nh = 0, cur = 0, olen = 0, cap = 0;
	char *o = NULL;
	int r;

	*out = NULL;
	if (!hs)
		return -ENOMEM;
	if (memchr(diff, '\0', dlen) || memchr(text, '\0', len)) {
		snprintf(why, size, "a binary patch (a NUL byte): refused");
		free(hs);
		return -EPERM;
	}
	r = dise_lines_split(text, len, &tl);
	if (r == 0)
		r = dise_lines_split(diff, dlen, &dl);
	if (r == 0)
		r = parse(&dl, name, hs, &nh, why, size);
	for (size_t i = 0; r == 0 && i < nh; i++) {
		struct phunk *h = &hs[i];
		size_t want = h->old_at ? h->old_at - 1 : 0, at = SIZE_MAX, d;

		if (!h->nold) /* a pure insertion: after line old_at */
			want = h->old_at;
		for (d = 0; at == SIZE_MAX && d <= tl.n + 1; d++) {
			if (want + d >= cur && want + d <= tl.n && matches(&tl, &dl, h, want + d))
				at = want + d;
			else if (d && want >= d && want - d >= cur && want - d <= tl.n && matches(&tl, &dl, h, want - d))
				at = want - d;
		}
		if (at == SIZE_MAX) {
			snprintf(why, size, "hunk %zu of the diff does not apply to %.200s", i + 1, name);
			r = -EINVAL;
			break;
		}
		r = put(&o, &olen, &cap, text + tl.off[cur], tl.off[at] - tl.off[cur]);
		cur = at;
		for (size_t k = h->first; r == 0 && k < h->end; k++) {
			char c = dl.text[dl.off[k]];
			const char *s;
			size_t n;

			if (c == '-' || c == '\\') {
				cur += c == '-';
				continue;
			}
			body_line(&dl, k, &s, &n);
			r = put(&o, &olen, &cap, s, n);
			if (r == 0)
				r = put(&o, &olen, &cap, "\n", 1);
			cur += c != '+';
		}
	}
	if (r == 0)
		r = put(&o, &olen, &cap, text + tl.off[cur], len - tl.off[cur]);
	if (r == -ENOMEM)
		snprintf(why, size, "out of memory applying the diff");
	dise_lines_free(&tl);
	dise_lines_free(&dl);
	free(hs);
	if (r < 0) {
		free(o);
		return r;
	}
	*out = o;
	*outlen = olen;
	return 0;
}
