/* SPDX-License-Identifier: MIT */
/*
 * Fuzz driver for the diff applier (healer/regen-patch.c): a model's answer
 * is untrusted text, so any answer must give either the patched text or a
 * one-line refusal, never a crash, a leak, an overread, or a result that
 * names another file. Each round takes one of a few real diffs of a small
 * script (which apply), mutates it (bytes flipped, lines dropped, doubled or
 * swapped, hunk headers with random numbers, paths replaced by hostile ones,
 * fences and NUL bytes added), extracts it as from an answer, and applies
 * it. Checked every round: a refusal is one line; an applied result is a
 * text (no NUL byte unless the input had one) of plausible size; a diff
 * that names a path other than the file is never applied.
 * Usage: fuzz-patch [--iterations N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-patch.h"

#define FUZZ_SEED 0x2545f4914f6cdd1dull
#include "fuzz-rng.h"

static const char base[] = "#!/bin/sh\n"
			   "case \"$1\" in\n"
			   "greet)\n"
			   "\techo \"hello $2\"\n"
			   "\tkill -SEGV $$\n"
			   "\t;;\n"
			   "version)\n"
			   "\techo 2\n"
			   "\t;;\n"
			   "esac\n"
			   "exit 0\n";

static const char *const seeds[] = {
	"--- a/tool\n+++ b/tool\n@@ -4,3 +4,2 @@\n \techo \"hello $2\"\n-\tkill -SEGV $$\n \t;;\n",
	"--- a/tool\n+++ b/tool\n@@ -1,2 +1,3 @@\n #!/bin/sh\n+# fixed\n case \"$1\" in\n@@ -8,1 +9,1 @@\n-\techo 2\n+\techo 3\n",
	"Here is the fix:\n```diff\n--- tool\n+++ tool\n@@ -5 +5 @@\n-\tkill -SEGV $$\n+\t:\n```\nDone.\n",
	"diff --git a/tool b/tool\nindex 0000000..1111111 100755\n--- a/tool\n+++ b/tool\n@@ -10,2 +10,3 @@\n esac\n+echo bye\n exit 0\n",
};

static const char *const hostile[] = { "../../.bashrc", "/etc/passwd", "a/../tool", "/dev/null", "b/other", "tool\tx",
				       "a//tool", "",		  ".",		 "a/tool/",  "\\x00" };

struct buf {
	char *p;
	size_t n, cap;
};

static void add(struct buf *b, const char *s, size_t k)
{
	if (b->n + k + 1 > b->cap) {
		b->cap = (b->n + k + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, k);
	b->n += k;
	b->p[b->n] = '\0';
}

/* The lines of s, into an array of (start, length) pairs; how many. */
static size_t lines(const char *s, size_t len, const char **at, size_t *ln, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t j = i;

		while (j < len && s[j] != '\n')
			j++;
		at[n] = s + i;
		ln[n++] = j - i + (j < len);
		i = j + 1;
	}
	return n;
}

/* A mutated copy of seed into b: line-level edits, then byte-level ones. */
static void mutate(struct buf *b, const char *seed)
{
	const char *at[64];
	size_t ln[64], n = lines(seed, strlen(seed), at, ln, 64), i;
	char tmp[128];

	b->n = 0;
	add(b, "", 0);
	for (i = 0; i < n; i++) {
		switch (next() % 12) {
		case 0: /* dropped */
			break;
		case 1: /* doubled */
			add(b, at[i], ln[i]);
			add(b, at[i], ln[i]);
			break;
		case 2: /* a hunk header with random numbers */
			snprintf(tmp, sizeof(tmp), "@@ -%d,%d +%d,%d @@\n", (int)(next() % 40) - 5, (int)(next() % 20) - 2,
				 (int)(next() % 40) - 5, (int)(next() % 20) - 2);
			add(b, tmp, strlen(tmp));
			break;
		case 3: /* a hostile path */
			snprintf(tmp, sizeof(tmp), "%s %s\n", next() % 2 ? "---" : "+++",
				 hostile[next() % (sizeof(hostile) / sizeof(hostile[0]))]);
			add(b, tmp, strlen(tmp));
			break;
		case 4: /* a line swapped with the next */
			if (i + 1 < n) {
				add(b, at[i + 1], ln[i + 1]);
				add(b, at[i], ln[i]);
				i++;
				break;
			}
			/* fall through */
		default:
			add(b, at[i], ln[i]);
		}
	}
	if (next() % 8 == 0)
		add(b, "```\n", 4);
	if (next() % 8 == 0)
		add(b, "old mode 100755\nnew mode 120000\n", 32);
	if (next() % 10 == 0)
		add(b, "GIT binary patch\nliteral 4\nLcmZ?d00001\n", 39);
	for (i = next() % 4; i > 0 && b->n; i--) { /* bytes flipped, NUL included */
		size_t k = next() % b->n;

		b->p[k] = (char)(next() % 4 == 0 ? 0 : next() % 256);
	}
	if (b->n && next() % 6 == 0) /* cut short */
		b->n = next() % b->n, b->p[b->n] = '\0';
}

/* Whether the path of a ---/+++ header line (q, k bytes) is the file tool: a/ or b/ before, a tab and a date after */
static int is_tool(const char *q, size_t k)
{
	const char *tab = memchr(q, '\t', k);

	if (tab)
		k = (size_t)(tab - q);
	if (k >= 2 && (q[0] == 'a' || q[0] == 'b') && q[1] == '/')
		q += 2, k -= 2;
	while (k && (q[k - 1] == ' ' || q[k - 1] == '\r'))
		k--;
	return k == 4 && !memcmp(q, "tool", 4);
}

/*
 * Whether diff names another file than tool in a header line: a --- or
 * +++ line outside a hunk's body (a hunk's body is as many lines as its
 * @@ header counts: there such a line is a removed or added line).
 */
static int names_other(const char *diff)
{
	const char *p = diff;
	long old_left = 0, new_left = 0;

	while (*p) {
		const char *e = strchr(p, '\n');
		size_t k = e ? (size_t)(e - p) : strlen(p);

		if (old_left > 0 || new_left > 0) {
			if (*p == '-')
				old_left--;
			else if (*p == '+')
				new_left--;
			else if (*p == ' ' || k == 0)
				old_left--, new_left--;
			else
				old_left = new_left = 0;
		} else if (k + (e != NULL) > 4 && (!strncmp(p, "--- ", 4) || !strncmp(p, "+++ ", 4))) {
			if (!is_tool(p + 4, k - 4))
				return 1;
		} else if (k >= 2 && !strncmp(p, "@@", 2)) {
			long a = 0, b = 1, c = 0, d = 1;

			if (sscanf(p, "@@ -%ld,%ld +%ld,%ld", &a, &b, &c, &d) < 4 && sscanf(p, "@@ -%ld +%ld,%ld", &a, &c, &d) < 3)
				b = d = 1;
			old_left = b, new_left = d;
		}
		p += k + (e != NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long iterations = 200000, i, applied = 0, refused = 0;
	struct buf b = { 0 };

	if (argc == 3 && !strcmp(argv[1], "--iterations"))
		iterations = strtol(argv[2], NULL, 10);
	else if (argc != 1) {
		fprintf(stderr, "usage: fuzz-patch [--iterations N]\n");
		return 2;
	}
	for (i = 0; i < iterations; i++) {
		char why[256], *diff, *out = NULL;
		size_t outlen = 0;
		int r;

		mutate(&b, seeds[next() % (sizeof(seeds) / sizeof(seeds[0]))]);
		diff = dise_patch_extract(b.p);
		if (!diff)
			abort();
		why[0] = '\0';
		r = dise_patch_apply(base, sizeof(base) - 1, diff, strlen(diff), "tool", &out, &outlen, why, sizeof(why));
		if (r == 0) {
			/* applied: a text of plausible size, and never from a diff naming another file */
			if (!out || outlen > 64 * 1024 || memchr(out, '\0', outlen) || out[outlen] != '\0') {
				fprintf(stderr, "fuzz-patch: round %ld: an applied result is not a text\n", i);
				return 1;
			}
			if (names_other(diff)) {
				fprintf(stderr, "fuzz-patch: round %ld: applied a diff that names another file:\n%s\n", i, diff);
				return 1;
			}
			applied++;
			free(out);
		} else {
			if (r != -EPERM && r != -EINVAL && r != -ENOMEM) {
				fprintf(stderr, "fuzz-patch: round %ld: unexpected return %d\n", i, r);
				return 1;
			}
			if (!why[0] || strchr(why, '\n')) {
				fprintf(stderr, "fuzz-patch: round %ld: the refusal is not one line: '%s'\n", i, why);
				return 1;
			}
			refused++;
		}
		free(diff);
	}
	free(b.p);
	printf("fuzz-patch: %ld rounds: %ld applied, %ld refused with one line\n", iterations, applied, refused);
	return applied && refused ? 0 : 1; /* both kinds seen, or the mutations are not exercising it */
}
