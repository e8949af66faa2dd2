/* SPDX-License-Identifier: MIT */
/* The configuration file, read with jansson; strict about what it knows, so a typo never passes silently. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "home.h"

#define BAD(...)                                          \
	do {                                              \
		snprintf(err, errsize, __VA_ARGS__);      \
		one_line(err);                            \
		return -EINVAL;                           \
	} while (0)

/* An error is one line, even when it quotes a key with a newline or a control character in it. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int get_int(json_t *v, const char *key, long lo, long hi, int *out, char *err, size_t errsize)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		BAD("dise.json: '%s' must be an integer from %ld to %ld", key, lo, hi);
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_num(json_t *v, const char *key, double lo, double hi, double *out, char *err, size_t errsize)
{
	if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
		BAD("dise.json: '%s' must be a number from %g to %g", key, lo, hi);
	*out = json_number_value(v);
	return 0;
}

static int load_detect(json_t *o, struct dise_detect_policy *p, char *err, size_t errsize)
{
	const char *k;
	json_t *v;
	int secs;

	if (!json_is_object(o))
		BAD("dise.json: 'detect' must be an object");
	json_object_foreach(o, k, v)
	{
		int r = 0;

		if (!strcmp(k, "strikes"))
			r = get_int(v, "detect.strikes", 1, 1000, &p->strikes, err, errsize);
		else if (!strcmp(k, "window_seconds")) {
			r = get_int(v, "detect.window_seconds", 1, 365 * 86400, &secs, err, errsize);
			p->window_ns = (int64_t)secs * 1000000000;
		} else if (!strcmp(k, "error_rate"))
			r = get_num(v, "detect.error_rate", 0, 1, &p->error_rate, err, errsize);
		else if (!strcmp(k, "error_runs"))
			r = get_int(v, "detect.error_runs", 1, 100000, &p->error_runs, err, errsize);
		else if (!strcmp(k, "error_alpha"))
			r = get_num(v, "detect.error_alpha", 0, 1, &p->error_alpha, err, errsize);
		else if (!strcmp(k, "error_min_runs"))
			r = get_int(v, "detect.error_min_runs", 1, 100000, &p->error_min_runs, err, errsize);
		else if (!strcmp(k, "slowdown_recent"))
			r = get_int(v, "detect.slowdown_recent", 1, 1000, &p->slow_recent, err, errsize);
		else if (!strcmp(k, "slowdown_factor"))
			r = get_num(v, "detect.slowdown_factor", 1, 1000, &p->slow_factor, err, errsize);
		else if (!strcmp(k, "slowdown_min_history"))
			r = get_int(v, "detect.slowdown_min_history", 1, 100000, &p->slow_min_history, err, errsize);
		else if (!strcmp(k, "slowdown_min_delta_ms"))
			r = get_int(v, "detect.slowdown_min_delta_ms", 0, 86400000, &p->slow_min_delta_ms, err, errsize);
		else
			BAD("dise.json: unknown key 'detect.%s'", k);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A tool's rule scope from its "rule_scope" (scope, -1: not given) and its
 * "critical", whatever order they came in: "critical": true means "global",
 * and with any other scope given it is a contradiction, not a preference.
 */
static int resolve_scope(struct dise_tool_policy *p, const char *name, int scope, int critical, char *err,
			 size_t errsize)
{
	if (critical && scope >= 0 && scope != DISE_SCOPE_GLOBAL)
		BAD("dise.json: 'tools.%s.critical' is true but 'rule_scope' is \"%s\"", name,
		    dise_scope_name((enum dise_scope)scope));
	if (critical)
		p->rule_scope = DISE_SCOPE_GLOBAL;
	else if (scope >= 0)
		p->rule_scope = (enum dise_scope)scope;
	return 0;
}

void dise_canary_policy_default(struct dise_canary_policy *c)
{
	static const int steps[] = { 5, 50, 100 };

	memset(c, 0, sizeof(*c));
	memcpy(c->steps, steps, sizeof(steps));
	c->nsteps = 3;
	c->min_runs = 20;
	c->min_seconds = 60;
	c->failure_margin = 0.05;
	c->max_slowdown = 1.5;
}

static int load_canary_steps(json_t *v, const char *name, struct dise_canary_policy *c, char *err, size_t errsize)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > DISE_CANARY_MAX_STEPS)
		BAD("dise.json: 'tools.%s.canary.steps' must be an array of 1 to %d percents", name, DISE_CANARY_MAX_STEPS);
	c->nsteps = 0;
	json_array_foreach(v, i, x)
	{
		json_int_t w = json_is_integer(x) ? json_integer_value(x) : -1;

		if (w < 1 || w > 100 || (i && w <= c->steps[i - 1]))
			BAD("dise.json: 'tools.%s.canary.steps' must rise from 1 to 100 (percents of runs)", name);
		c->steps[c->nsteps++] = (int)w;
	}
	if (c->steps[c->nsteps - 1] != 100)
		BAD("dise.json: 'tools.%s.canary.steps' must end at 100 (the canary then is the plain version)", name);
	return 0;
}

static int load_canary(json_t *o, const char *name, struct dise_canary_policy *c, char *err, size_t errsize)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		BAD("dise.json: 'tools.%s.canary' must be an object", name);
	c->on_regenerate = 1; /* a tool with a canary policy rolls its regenerated versions out through it */
	json_object_foreach(o, k, v)
	{
		if (!strcmp(k, "on_deploy") || !strcmp(k, "on_regenerate")) {
			if (!json_is_boolean(v))
				BAD("dise.json: 'tools.%s.canary.%s' must be true or false", name, k);
			*(k[3] == 'd' ? &c->on_deploy : &c->on_regenerate) = json_is_true(v);
		} else if (!strcmp(k, "steps")) {
			if (load_canary_steps(v, name, c, err, errsize) < 0)
				return -EINVAL;
		} else if (!strcmp(k, "min_runs") || !strcmp(k, "min_seconds")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000)
				BAD("dise.json: 'tools.%s.canary.%s' must be an integer from 0 to 100000000", name, k);
			*(k[4] == 'r' ? &c->min_runs : &c->min_seconds) = json_integer_value(v);
		} else if (!strcmp(k, "failure_margin")) {
			if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
				BAD("dise.json: 'tools.%s.canary.failure_margin' must be a number from 0 to 1", name);
			c->failure_margin = json_number_value(v);
		} else if (!strcmp(k, "max_slowdown")) {
			if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 1000)
				BAD("dise.json: 'tools.%s.canary.max_slowdown' must be a number from 1 to 1000", name);
			c->max_slowdown = json_number_value(v);
		} else {
			BAD("dise.json: unknown key 'tools.%s.canary.%s'", name, k);
		}
	}
	return 0;
}

void dise_regen_policy_default(struct dise_regen_policy *g)
{
	*g = (struct dise_regen_policy){ .mode = DISE_REGEN_AUTO, .max_candidates = 64, .budget_s = 300, .ratchet = 0.95,
					 .lock_after = 3, .cooldown_s = 300, .strategy = DISE_REGEN_REVERT_HUNKS,
					 .confidence = 0.9, .max_attempts = 3, .timeout_s = 120 };
}

static void regen_policy_free(struct dise_regen_policy *g)
{
	free(g->endpoint);
	free(g->model);
	free(g->api_key_env);
	free(g->command);
	g->endpoint = g->model = g->api_key_env = g->command = NULL;
}

/* A non-empty string of at most 4095 bytes, with no NUL inside, into *out (replacing it). 0 or -EINVAL. */
static int get_str(json_t *v, const char *key, char **out, char *err, size_t errsize)
{
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 4095 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		BAD("dise.json: '%s' must be a non-empty string", key);
	free(*out);
	if (!(*out = strdup(json_string_value(v))))
		BAD("dise.json: out of memory");
	return 0;
}

/* The strategy's own keys present, and nothing of another's: 0, or -EINVAL naming what is missing. */
static int regen_check(const struct dise_regen_policy *g, const char *name, char *err, size_t errsize)
{
	if (g->strategy == DISE_REGEN_LLM && (!g->endpoint || !g->model))
		BAD("dise.json: 'tools.%s.regenerate': strategy \"llm\" needs \"endpoint\" and \"model\"", name);
	if (g->strategy == DISE_REGEN_LLM && strncmp(g->endpoint, "http://", 7) && strncmp(g->endpoint, "https://", 8))
		BAD("dise.json: 'tools.%s.regenerate.endpoint' must be an http:// or https:// URL", name);
	if (g->strategy == DISE_REGEN_COMMAND && !g->command)
		BAD("dise.json: 'tools.%s.regenerate': strategy \"command\" needs \"command\"", name);
	if (g->strategy != DISE_REGEN_LLM && (g->endpoint || g->model || g->api_key_env))
		BAD("dise.json: 'tools.%s.regenerate': \"endpoint\", \"model\" and \"api_key_env\" are for strategy "
		    "\"llm\"",
		    name);
	if (g->strategy != DISE_REGEN_COMMAND && g->command)
		BAD("dise.json: 'tools.%s.regenerate': \"command\" is for strategy \"command\"", name);
	return 0;
}

/* "tools.NAME.regenerate" into p->regen */
static int load_regen(json_t *o, struct dise_regen_policy *g, const char *name, char *err, size_t errsize)
{
	static const char *const modes[] = { "auto", "suggest", "ask", "confidence" };
	static const char *const strategies[] = { "revert-hunks", "llm", "command" };
	const char *k;
	json_t *v;
	char key[512];
	int r = 0, i;

	if (!json_is_object(o))
		BAD("dise.json: 'tools.%s.regenerate' must be an object ({\"strategy\": \"revert-hunks\"})", name);
	g->enabled = 1;
	json_object_foreach(o, k, v)
	{
		const char *s = json_string_value(v);

		snprintf(key, sizeof(key), "tools.%s.regenerate.%s", name, k);
		if (!strcmp(k, "strategy")) {
			for (i = 0; s && i < 3 && strcmp(s, strategies[i]); i++)
				;
			if (!s || i == 3)
				BAD("dise.json: '%s' must be \"revert-hunks\", \"llm\" or \"command\"", key);
			g->strategy = (enum dise_regen_strategy)i;
		} else if (!strcmp(k, "mode")) {
			for (i = 0; s && i < 4 && strcmp(s, modes[i]); i++)
				;
			if (!s || i == 4)
				BAD("dise.json: '%s' must be \"auto\", \"suggest\", \"ask\" or \"confidence\"", key);
			g->mode = (enum dise_regen_mode)i;
		} else if (!strcmp(k, "max_candidates"))
			r = get_int(v, key, 1, 10000, &g->max_candidates, err, errsize);
		else if (!strcmp(k, "budget_seconds"))
			r = get_int(v, key, 1, 86400, &g->budget_s, err, errsize);
		else if (!strcmp(k, "ratchet"))
			r = get_num(v, key, 0, 1, &g->ratchet, err, errsize);
		else if (!strcmp(k, "lock_after"))
			r = get_int(v, key, 1, 1000, &g->lock_after, err, errsize);
		else if (!strcmp(k, "cooldown_seconds"))
			r = get_int(v, key, 0, 30 * 86400, &g->cooldown_s, err, errsize);
		else if (!strcmp(k, "confidence_threshold"))
			r = get_num(v, key, 0, 1, &g->confidence, err, errsize);
		else if (!strcmp(k, "max_attempts"))
			r = get_int(v, key, 1, 100, &g->max_attempts, err, errsize);
		else if (!strcmp(k, "timeout_seconds"))
			r = get_int(v, key, 1, 3600, &g->timeout_s, err, errsize);
		else if (!strcmp(k, "endpoint"))
			r = get_str(v, key, &g->endpoint, err, errsize);
		else if (!strcmp(k, "model"))
			r = get_str(v, key, &g->model, err, errsize);
		else if (!strcmp(k, "command"))
			r = get_str(v, key, &g->command, err, errsize);
		else if (!strcmp(k, "api_key_env")) {
			r = get_str(v, key, &g->api_key_env, err, errsize);
			if (r == 0 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s))
				BAD("dise.json: '%s' must be the NAME of an environment variable (the key itself never goes in "
				    "dise.json)",
				    key);
		} else
			BAD("dise.json: unknown key '%s'", key);
		if (r < 0)
			return r;
	}
	return regen_check(g, name, err, errsize);
}

int dise_relpath_inside(const char *s)
{
	const char *c = s;

	if (*s == '/' || !*s)
		return 0;
	while (*c) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 2 && !strncmp(c, "..", 2)))
			return 0;
		c += n + (c[n] == '/');
	}
	return c[-1] != '/';
}

/* "tools.NAME.source" into *s: repo, build and artifact required. */
static int load_source(json_t *o, struct dise_source_policy *s, const char *name, char *err, size_t errsize)
{
	const char *k;
	json_t *v;
	char key[512];
	int r = 0;

	if (!json_is_object(o))
		BAD("dise.json: 'tools.%s.source' must be an object ({\"repo\": DIR, \"build\": CMD, \"artifact\": PATH})",
		    name);
	json_object_foreach(o, k, v)
	{
		snprintf(key, sizeof(key), "tools.%s.source.%s", name, k);
		if (!strcmp(k, "repo"))
			r = get_str(v, key, &s->repo, err, errsize);
		else if (!strcmp(k, "build"))
			r = get_str(v, key, &s->build, err, errsize);
		else if (!strcmp(k, "artifact"))
			r = get_str(v, key, &s->artifact, err, errsize);
		else if (!strcmp(k, "rev_command"))
			r = get_str(v, key, &s->rev_command, err, errsize);
		else if (!strcmp(k, "build_timeout_seconds"))
			r = get_int(v, key, 1, 86400, &s->build_timeout_s, err, errsize);
		else
			BAD("dise.json: unknown key '%s'", key);
		if (r < 0)
			return r;
	}
	if (!s->repo || !s->build || !s->artifact)
		BAD("dise.json: 'tools.%s.source' needs \"repo\", \"build\" and \"artifact\"", name);
	if (s->repo[0] != '/')
		BAD("dise.json: 'tools.%s.source.repo' must be an absolute path (a git work tree)", name);
	if (!dise_relpath_inside(s->artifact))
		BAD("dise.json: 'tools.%s.source.artifact' must be a path inside the tree (relative, no \"..\")", name);
	return 0;
}

static int load_tools(json_t *o, struct dise_config *cfg, char *err, size_t errsize)
{
	const char *name, *k;
	json_t *t, *v;

	if (!json_is_object(o))
		BAD("dise.json: 'tools' must be an object of tool names");
	cfg->tools = calloc(json_object_size(o) + 1, sizeof(*cfg->tools));
	if (!cfg->tools)
		BAD("dise.json: out of memory");
	json_object_foreach(o, name, t)
	{
		struct dise_tool_policy *p = &cfg->tools[cfg->ntools++];
		int scope = -1, critical = 0; /* as given; resolved once the whole object is read */

		p->name = strdup(name);
		p->test_timeout_s = 60;
		p->rule_scope = DISE_SCOPE_DESCENDANTS;
		dise_canary_policy_default(&p->canary);
		dise_regen_policy_default(&p->regen);
		p->source.build_timeout_s = 300;
		if (!json_is_object(t))
			BAD("dise.json: 'tools.%s' must be an object", name);
		json_object_foreach(t, k, v)
		{
			size_t i;
			json_t *c;

			if (!strcmp(k, "on_failure")) {
				const char *s = json_string_value(v);

				if (!s || (strcmp(s, "rollback") && strcmp(s, "restore") && strcmp(s, "freeze")))
					BAD("dise.json: 'tools.%s.on_failure' must be \"rollback\", \"restore\" or \"freeze\"",
					    name);
				p->freeze = !strcmp(s, "freeze");
				p->restore = !strcmp(s, "restore");
				continue;
			}
			if (!strcmp(k, "test_command")) {
				if (!json_is_string(v) || !json_string_length(v))
					BAD("dise.json: 'tools.%s.test_command' must be a non-empty string (run by sh -c)", name);
				free(p->test_command);
				p->test_command = strdup(json_string_value(v));
				if (!p->test_command)
					BAD("dise.json: out of memory");
				continue;
			}
			if (!strcmp(k, "test_timeout_seconds")) {
				if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 86400)
					BAD("dise.json: 'tools.%s.test_timeout_seconds' must be an integer from 1 to 86400", name);
				p->test_timeout_s = (int)json_integer_value(v);
				continue;
			}
			if (!strcmp(k, "replay")) {
				if (!json_is_boolean(v))
					BAD("dise.json: 'tools.%s.replay' must be true or false", name);
				p->replay = json_is_true(v);
				continue;
			}
			if (!strcmp(k, "canary")) {
				if (load_canary(v, name, &p->canary, err, errsize) < 0)
					return -EINVAL;
				continue;
			}
			if (!strcmp(k, "rule_scope")) {
				scope = json_is_string(v) ? dise_scope_from_name(json_string_value(v)) : -1;
				if (scope < 0)
					BAD("dise.json: 'tools.%s.rule_scope' must be \"descendants\", \"all_similar\" or "
					    "\"global\"",
					    name);
				continue;
			}
			if (!strcmp(k, "critical")) {
				if (!json_is_boolean(v))
					BAD("dise.json: 'tools.%s.critical' must be true or false", name);
				critical = json_is_true(v);
				continue;
			}
			if (!strcmp(k, "regenerate")) {
				if (load_regen(v, &p->regen, name, err, errsize) < 0)
					return -EINVAL;
				continue;
			}
			if (!strcmp(k, "source")) {
				if (load_source(v, &p->source, name, err, errsize) < 0)
					return -EINVAL;
				continue;
			}
			if (!strcmp(k, "paths")) {
				if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > 1024)
					BAD("dise.json: 'tools.%s.paths' must be an array of 1 to 1024 absolute paths or globs",
					    name);
				if (p->paths)
					BAD("dise.json: 'tools.%s.paths' given twice", name);
				p->paths = calloc(json_array_size(v) + 1, sizeof(*p->paths));
				if (!p->paths)
					BAD("dise.json: out of memory");
				json_array_foreach(v, i, c)
				{
					const char *g = json_string_value(c);

					if (!g || g[0] != '/' || json_string_length(c) >= 4096)
						BAD("dise.json: 'tools.%s.paths' holds something not an absolute path (\"/opt/app/releases/*/bin/app\")",
						    name);
					if (!(p->paths[p->npaths++] = strdup(g)))
						BAD("dise.json: out of memory");
				}
				continue;
			}
			if (strcmp(k, "normal_exit_codes"))
				BAD("dise.json: unknown key 'tools.%s.%s'", name, k);
			if (!json_is_array(v) || json_array_size(v) > DISE_MAX_NORMAL_CODES)
				BAD("dise.json: 'tools.%s.normal_exit_codes' must be an array of at most %d exit codes", name,
				    DISE_MAX_NORMAL_CODES);
			json_array_foreach(v, i, c)
			{
				if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 255)
					BAD("dise.json: 'tools.%s.normal_exit_codes' holds %s: exit codes are 0 to 255", name,
					    json_is_integer(c) ? "a number out of range" : "something not an integer");
				p->normal[p->nnormal++] = (int)json_integer_value(c);
			}
		}
		if (resolve_scope(p, name, scope, critical, err, errsize) < 0)
			return -EINVAL;
	}
	return 0;
}

static int load_notify(json_t *o, struct dise_config *cfg, char *err, size_t errsize)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		BAD("dise.json: 'notify' must be an object");
	json_object_foreach(o, k, v)
	{
		if (!strcmp(k, "webhook")) {
			const char *u = json_string_value(v);

			if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)))
				BAD("dise.json: 'notify.webhook' must be an http:// or https:// URL");
			free(cfg->webhook);
			cfg->webhook = strdup(u);
			if (!cfg->webhook)
				BAD("dise.json: out of memory");
		} else if (!strcmp(k, "timeout_ms")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 60000)
				BAD("dise.json: 'notify.timeout_ms' must be an integer from 1 to 60000");
			cfg->webhook_timeout_ms = (long)json_integer_value(v);
		} else {
			BAD("dise.json: unknown key 'notify.%s'", k);
		}
	}
	return 0;
}

static void defaults(struct dise_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	dise_detect_policy_default(&cfg->detect);
	cfg->webhook_timeout_ms = 2000;
}

static int load_root(json_t *root, struct dise_config *cfg, char *err, size_t errsize);

int dise_config_load(const char *path, struct dise_config *cfg, char *err, size_t errsize)
{
	json_error_t je;
	struct stat st;
	json_t *root;
	int fd;

	defaults(cfg);
	/* never blocks: a FIFO (or a device) at dise.json is refused, not waited on */
	fd = dise_open_regular(path, 0, &st);
	if (fd == -ENOENT)
		return 0; /* no file: the defaults (an unreadable one is an error) */
	if (fd == -EINVAL)
		BAD("dise.json: '%s' is not a regular file", path);
	if (fd < 0)
		BAD("dise.json: cannot open '%s': %s", path, strerror(-fd));
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
	close(fd);
	if (!root)
		BAD("dise.json:%d: %s", je.line, je.text);
	return load_root(root, cfg, err, errsize);
}

int dise_config_parse(const char *text, size_t len, struct dise_config *cfg, char *err, size_t errsize)
{
	json_error_t je;
	json_t *root;

	defaults(cfg);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		BAD("dise.json:%d: %s", je.line, je.text);
	return load_root(root, cfg, err, errsize);
}

/* Takes root (decref'd here) into cfg; on an error cfg is freed and err says why. */
static int load_root(json_t *root, struct dise_config *cfg, char *err, size_t errsize)
{
	json_t *v;
	const char *k;
	int r = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		BAD("dise.json: the top level must be an object");
	}
	json_object_foreach(root, k, v)
	{
		if (!strcmp(k, "detect"))
			r = load_detect(v, &cfg->detect, err, errsize);
		else if (!strcmp(k, "tools"))
			r = load_tools(v, cfg, err, errsize);
		else if (!strcmp(k, "notify"))
			r = load_notify(v, cfg, err, errsize);
		else if (!strcmp(k, "cas")) {
			const char *ck;
			json_t *cv;

			if (!json_is_object(v)) {
				snprintf(err, errsize, "dise.json: 'cas' must be an object");
				r = -EINVAL;
			}
			json_object_foreach(v, ck, cv)
			{
				if (r < 0)
					break;
				if (strcmp(ck, "max_bytes")) {
					snprintf(err, errsize, "dise.json: unknown key 'cas.%s'", ck);
					r = -EINVAL;
				} else if (!json_is_integer(cv) || json_integer_value(cv) < 0) {
					snprintf(err, errsize, "dise.json: 'cas.max_bytes' must be a byte count (0: no cap)");
					r = -EINVAL;
				} else {
					cfg->cas_max_bytes = (uint64_t)json_integer_value(cv);
				}
			}
		} else {
			snprintf(err, errsize, "dise.json: unknown key '%s'", k);
			r = -EINVAL;
		}
		if (r < 0)
			break;
	}
	json_decref(root);
	if (r < 0) {
		one_line(err);
		dise_config_free(cfg);
	}
	return r;
}

void dise_config_free(struct dise_config *cfg)
{
	int i;

	for (i = 0; i < cfg->ntools; i++) {
		free(cfg->tools[i].name);
		free(cfg->tools[i].test_command);
		regen_policy_free(&cfg->tools[i].regen);
		free(cfg->tools[i].source.repo);
		free(cfg->tools[i].source.build);
		free(cfg->tools[i].source.artifact);
		free(cfg->tools[i].source.rev_command);
		for (int j = 0; j < cfg->tools[i].npaths; j++)
			free(cfg->tools[i].paths[j]);
		free(cfg->tools[i].paths);
	}
	free(cfg->tools);
	cfg->tools = NULL;
	free(cfg->webhook);
	cfg->webhook = NULL;
	cfg->ntools = 0;
}

const char *dise_config_normal_codes(const struct dise_config *cfg, const char *tool, char *buf, size_t size)
{
	const struct dise_tool_policy *p = dise_config_tool(cfg, tool);
	size_t n = 0;
	int i, k;

	if (!p || !p->nnormal || !size)
		return NULL;
	for (i = 0; i < p->nnormal; i++) {
		k = snprintf(buf + n, size - n, "%s%d", i ? "," : "", p->normal[i]);
		if (k < 0 || (size_t)k >= size - n)
			return NULL;
		n += (size_t)k;
	}
	return buf;
}

/*
 * A policy applies to the tool of its name (a group, or a path); a policy
 * that names no paths also applies, by its name, to every tool whose path
 * ends in that file name ("grep" covers /usr/bin/grep and /bin/grep). A
 * policy with paths is a group: only its name and its paths are it.
 */
const struct dise_tool_policy *dise_config_tool(const struct dise_config *cfg, const char *tool)
{
	const char *base = tool ? strrchr(tool, '/') : NULL;
	int i;

	if (!tool)
		return NULL;
	for (i = 0; cfg && i < cfg->ntools; i++)
		if (!strcmp(cfg->tools[i].name, tool))
			return &cfg->tools[i];
	for (i = 0; base && cfg && i < cfg->ntools; i++)
		if (!cfg->tools[i].npaths && !strcmp(cfg->tools[i].name, base + 1))
			return &cfg->tools[i];
	return NULL;
}

const char *dise_config_group(const struct dise_config *cfg, const char *path)
{
	int i, j;

	for (i = 0; cfg && path && i < cfg->ntools; i++)
		for (j = 0; j < cfg->tools[i].npaths; j++)
			if (!fnmatch(cfg->tools[i].paths[j], path, FNM_PATHNAME))
				return cfg->tools[i].name;
	return NULL;
}

int dise_config_freezes(const struct dise_config *cfg, const char *tool)
{
	const struct dise_tool_policy *p = dise_config_tool(cfg, tool);

	return p && p->freeze;
}
