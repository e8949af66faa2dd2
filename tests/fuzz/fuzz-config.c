/* SPDX-License-Identifier: MIT */
/*
 * Fuzz driver for the configuration (collector/config.c): dise.json is
 * written by people and read by the collector at start, so any text must
 * give either a configuration or a one-line error, never a crash, a leak or
 * an overread. Each round builds a random document from the real keys with
 * values of every JSON type (and sometimes garbles its text), parses it, and
 * on success walks what was parsed: the policy of each tool, the SQL
 * condition of failure written into buffers of every small size. And the
 * order of keys never matters: each document that is valid JSON is parsed
 * again with the keys of every object in reverse order, and must be accepted
 * or refused alike, to the same configuration.
 * Usage: fuzz-config [--iterations N]
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_SEED 0x9e3779b97f4a7c15ull
#include "fuzz-rng.h"

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

/* A value a key takes, so that documents with several keys that combine are accepted often. */
static const char *valid_value(const char *key)
{
	static const char *const plain[][2] = {
		{ "strikes", "3" },		  { "window_seconds", "60" },	  { "error_rate", "0.05" },
		{ "error_runs", "100" },	  { "error_min_runs", "20" },	  { "slowdown_recent", "5" },
		{ "slowdown_factor", "1.3" },	  { "slowdown_min_history", "5" }, { "slowdown_min_delta_ms", "10" },
		{ "webhook", "\"http://127.0.0.1:9/x\"" }, { "timeout_ms", "100" }, { "max_bytes", "1000" },
	};
	size_t i;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(key, plain[i][0]))
			return plain[i][1];
	static const char *const scopes[] = { "\"descendants\"", "\"all_similar\"", "\"global\"" };
	static const char *const failures[] = { "\"rollback\"", "\"restore\"", "\"freeze\"" };

	if (!strcmp(key, "rule_scope"))
		return scopes[next() % 3];
	if (!strcmp(key, "on_failure"))
		return failures[next() % 3];
	if (!strcmp(key, "critical") || !strcmp(key, "replay"))
		return next() % 2 ? "true" : "false";
	if (!strcmp(key, "normal_exit_codes"))
		return next() % 2 ? "[1, 3]" : "[]";
	if (!strcmp(key, "test_command"))
		return "\"\\\"$DISE_CANDIDATE\\\" --self-test\"";
	if (!strcmp(key, "test_timeout_seconds"))
		return "5";
	if (!strcmp(key, "paths"))
		return "[\"/opt/app/*/bin/app\"]";
	return NULL;
}

/*
 * An object of keys drawn from keys (plus a stranger now and then), values
 * of any type, or often valid ones when valid() knows the key.
 */
static void object(struct buf *b, const char *const *keys, size_t nkeys, int depth,
		   const char *(*valid)(const char *key))
{
	int i, n = (int)(next() % (nkeys + 2));

	put(b, "{");
	for (i = 0; i < n; i++) {
		if (i)
			put(b, ",");
		const char *k = next() % 12 ? keys[next() % nkeys] : "stranger", *v = valid ? valid(k) : NULL;

		put(b, "\"");
		put(b, k);
		put(b, "\":");
		if (v && next() % 4)
			put(b, v);
		else
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
					    "replay",		 "rule_scope", "critical", "paths" };
	static const char *const notify[] = { "webhook", "timeout_ms" };
	static const char *const cas[] = { "max_bytes" };
	int i, n;

	put(b, "{");
	n = 0;
	if (next() % 3) {
		put(b, "\"detect\":");
		if (next() % 8)
			object(b, detect, sizeof(detect) / sizeof(detect[0]), 1, valid_value);
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
				object(b, tool, sizeof(tool) / sizeof(tool[0]), 1, valid_value);
			else
				value(b, 1);
		}
		put(b, "}");
	}
	if (next() % 3) {
		put(b, n++ ? ",\"notify\":" : "\"notify\":");
		object(b, notify, 2, 1, valid_value);
	}
	if (next() % 4 == 0) {
		put(b, n++ ? ",\"cas\":" : "\"cas\":");
		object(b, cas, 1, 1, valid_value);
	}
	put(b, "}");
}

/* v with the keys of every object in it in reverse order (a new reference). */
static json_t *reversed(json_t *v)
{
	const char *k, *keys[64];
	json_t *o, *x;
	size_t i, n = 0;

	if (json_is_array(v)) {
		o = json_array();
		json_array_foreach(v, i, x)
			json_array_append_new(o, reversed(x));
		return o;
	}
	if (!json_is_object(v))
		return json_incref(v);
	o = json_object();
	json_object_foreach(v, k, x)
		if (n < sizeof(keys) / sizeof(keys[0]))
			keys[n++] = k;
	while (n--)
		json_object_set_new(o, keys[n], reversed(json_object_get(v, keys[n])));
	return o;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int same_tool(const struct dise_tool_policy *a, const struct dise_tool_policy *b)
{
	int i;

	if (!same_str(a->name, b->name) || !same_str(a->test_command, b->test_command) || a->npaths != b->npaths ||
	    a->nnormal != b->nnormal || a->freeze != b->freeze || a->restore != b->restore ||
	    a->test_timeout_s != b->test_timeout_s || a->replay != b->replay || a->rule_scope != b->rule_scope)
		return 0;
	for (i = 0; i < a->npaths; i++)
		if (!same_str(a->paths[i], b->paths[i]))
			return 0;
	return !memcmp(a->normal, b->normal, (size_t)a->nnormal * sizeof(a->normal[0]));
}

/* Whether a, and b read from the same document with its keys reversed, are the same configuration. */
static int same_config(const struct dise_config *a, const struct dise_config *b)
{
	int i;

	if (memcmp(&a->detect, &b->detect, sizeof(a->detect)) || a->ntools != b->ntools ||
	    a->cas_max_bytes != b->cas_max_bytes || !same_str(a->webhook, b->webhook) ||
	    a->webhook_timeout_ms != b->webhook_timeout_ms)
		return 0;
	for (i = 0; i < a->ntools; i++) /* the tools too came in reverse order */
		if (!same_tool(&a->tools[i], &b->tools[a->ntools - 1 - i]))
			return 0;
	return 1;
}

/*
 * The document text, with every object's keys reversed, parsed: 0 when it
 * gives what r and cfg say the text gave (or the text is no JSON), else 1.
 */
static int order_matters(const char *text, size_t len, int r, const struct dise_config *cfg, char **ret_rev)
{
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *rev;
	struct dise_config rcfg;
	char err[256];
	int rr, differ;

	*ret_rev = NULL;
	if (!doc)
		return 0;
	rev = reversed(doc);
	json_decref(doc);
	*ret_rev = json_dumps(rev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rev);
	if (!*ret_rev)
		return 0;
	rr = dise_config_parse(*ret_rev, strlen(*ret_rev), &rcfg, err, sizeof(err));
	differ = (rr == 0) != (r == 0) || (r == 0 && !same_config(cfg, &rcfg));
	if (rr == 0)
		dise_config_free(&rcfg);
	return differ;
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
		{
			char *rev;

			if (order_matters(text, len, r, &cfg, &rev)) {
				fprintf(stderr, "fuzz-config: round %ld: the order of keys matters: %.*s %s, %s %s\n", it,
					(int)len, text, r ? "refused" : "accepted", rev, r ? "accepted" : "refused or differs");
				return 1;
			}
			free(rev);
		}
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
