/* SPDX-License-Identifier: MIT */
/*
 * Fuzz driver for the configuration (collector/config.c): dise.json is
 * written by people and read by the collector at start, so any text must
 * give either a configuration or a one-line error, never a crash, a leak or
 * an overread. Each round builds a random document from the real keys with
 * values of every JSON type (and sometimes garbles its text), parses it, and
 * on success walks what was parsed: the policy of each tool, the SQL
 * condition of failure written into buffers of every small size.
 * Usage: fuzz-config [--iterations N]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s)
{
	size_t k = strlen(s);

	if (b->n + k + 1 > b->cap) {
		b->cap = (b->n + k + 1) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, k + 1);
	b->n += k;
}

static const char *const strings[] = { "rollback", "restore",	  "freeze", "descendants", "all_similar", "global",
				       "",	   "$DISE_CANDIDATE", "x\\\"y", "\\u0000",   "critical",    "true" };
static const char *const tool_names[] = { "grep", "", "a b", "x\\\"", "very-long-tool-name-that-goes-on-and-on-and-on",
					  "\\u00e9t\\u00e9", "tools", "%s%n", "two\\nlines" };

static void value(struct buf *b, int depth);

static void some_string(struct buf *b)
{
	char s[64];

	put(b, "\"");
	if (next() % 4 == 0) {
		snprintf(s, sizeof(s), "%u", next());
		put(b, s);
	} else {
		put(b, strings[next() % (sizeof(strings) / sizeof(strings[0]))]);
	}
	put(b, "\"");
}

static void value(struct buf *b, int depth)
{
	static const char *const ints[] = { "0", "1", "-1", "3", "255", "256", "86400", "86401", "9223372036854775807",
					    "-9223372036854775808", "4294967296" };
	static const char *const reals[] = { "0.05", "1.3", "-0.5", "1e308", "0.0", "1.0000001" };
	char s[32];
	int i, n;

	switch (next() % (depth > 2 ? 6 : 8)) {
	case 0:
		put(b, ints[next() % (sizeof(ints) / sizeof(ints[0]))]);
		break;
	case 1:
		put(b, reals[next() % (sizeof(reals) / sizeof(reals[0]))]);
		break;
	case 2:
		some_string(b);
		break;
	case 3:
		put(b, next() % 2 ? "true" : "false");
		break;
	case 4:
		put(b, "null");
		break;
	case 5:
		snprintf(s, sizeof(s), "%d", (int)(next() % 600) - 100);
		put(b, s);
		break;
	case 6:
		put(b, "[");
		n = (int)(next() % 40);
		for (i = 0; i < n; i++) {
			if (i)
				put(b, ",");
			if (next() % 3)
				snprintf(s, sizeof(s), "%d", (int)(next() % 300) - 20), put(b, s);
			else
				value(b, depth + 1);
		}
		put(b, "]");
		break;
	default:
		put(b, "{\"k\":");
		value(b, depth + 1);
		put(b, "}");
	}
}

/* An object of keys drawn from keys (plus a stranger now and then), values of any type. */
static void object(struct buf *b, const char *const *keys, size_t nkeys, int depth)
{
	int i, n = (int)(next() % (nkeys + 2));

	put(b, "{");
	for (i = 0; i < n; i++) {
		if (i)
			put(b, ",");
		put(b, "\"");
		put(b, next() % 12 ? keys[next() % nkeys] : "stranger");
		put(b, "\":");
		value(b, depth);
	}
	put(b, "}");
}

static void document(struct buf *b)
{
	static const char *const detect[] = { "strikes",	 "window_seconds",	"error_rate",
					      "error_runs",	 "error_min_runs",	"slowdown_recent",
					      "slowdown_factor", "slowdown_min_history", "slowdown_min_delta_ms" };
	static const char *const tool[] = { "normal_exit_codes", "on_failure", "test_command", "test_timeout_seconds",
					    "replay",		 "rule_scope", "critical" };
	static const char *const notify[] = { "webhook", "timeout_ms" };
	static const char *const cas[] = { "max_bytes" };
	int i, n;

	put(b, "{");
	n = 0;
	if (next() % 3) {
		put(b, "\"detect\":");
		if (next() % 8)
			object(b, detect, sizeof(detect) / sizeof(detect[0]), 1);
		else
			value(b, 1);
		n++;
	}
	if (next() % 3) {
		int k = (int)(next() % 4);

		put(b, n++ ? ",\"tools\":{" : "\"tools\":{");
		for (i = 0; i < k; i++) {
			if (i)
				put(b, ",");
			put(b, "\"");
			put(b, tool_names[next() % (sizeof(tool_names) / sizeof(tool_names[0]))]);
			put(b, "\":");
			if (next() % 8)
				object(b, tool, sizeof(tool) / sizeof(tool[0]), 1);
			else
				value(b, 1);
		}
		put(b, "}");
	}
	if (next() % 3) {
		put(b, n++ ? ",\"notify\":" : "\"notify\":");
		object(b, notify, 2, 1);
	}
	if (next() % 4 == 0) {
		put(b, n++ ? ",\"cas\":" : "\"cas\":");
		object(b, cas, 1, 1);
	}
	put(b, "}");
}

int main(int argc, char **argv)
{
	long iterations = 200000, it, ok = 0, refused = 0;
	struct buf b = { 0 };

	if (argc == 3 && !strcmp(argv[1], "--iterations"))
		iterations = atol(argv[2]);
	for (it = 0; it < iterations; it++) {
		struct dise_config cfg;
		char err[256], *text;
		size_t len;
		int r, i;

		b.n = 0;
		document(&b);
		len = b.n;
		text = malloc(len ? len : 1); /* exact size, no NUL: ASan sees any overread */
		memcpy(text, b.p, len);
		if (next() % 4 == 0 && len) { /* garble: flips, cuts */
			int k = (int)(next() % 4) + 1;

			while (k--)
				text[next() % len] ^= (char)(1u << (next() % 8));
			if (next() % 2)
				len = next() % len;
		}
		r = dise_config_parse(text, len, &cfg, err, sizeof(err));
		if (r == 0) {
			ok++;
			for (i = 0; i < cfg.ntools; i++) {
				char sql[512];
				size_t size = 1 + next() % sizeof(sql);

				(void)dise_config_tool(&cfg, cfg.tools[i].name);
				(void)dise_config_freezes(&cfg, cfg.tools[i].name);
				(void)dise_config_normal_codes(&cfg, cfg.tools[i].name, sql, size);
			}
			(void)dise_config_tool(&cfg, "not-configured");
			dise_config_free(&cfg);
		} else {
			refused++;
			if (!memchr(err, '\0', sizeof(err)) || strchr(err, '\n') || strncmp(err, "dise.json", 9)) {
				fprintf(stderr, "fuzz-config: round %ld: the error is not one line naming dise.json: %s\n",
					it, err);
				return 1;
			}
		}
		free(text);
	}
	free(b.p);
	printf("fuzz-config: %ld documents, %ld accepted, %ld refused with a one-line error\n", iterations, ok,
	       refused);
	if (iterations >= 100 && (ok == 0 || refused == 0)) { /* both sides of the parser were reached */
		fprintf(stderr, "fuzz-config: the documents never reached one side of the parser\n");
		return 1;
	}
	return 0;
}
