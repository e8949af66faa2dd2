/* SPDX-License-Identifier: MIT */
/*
 * $DISE_HOME/dise.json. Every key is optional; an unknown key or a bad value
 * is an error that names the key. No file: the defaults.
 *
 *   { "detect": { "strikes": 3, "window_seconds": 3600, "error_rate": 0.05,
 *                 "error_runs": 100, "error_min_runs": 10, "slowdown_recent": 5,
 *                 "slowdown_factor": 1.3, "slowdown_min_history": 5 },
 *     "tools":  { "app":  { "paths": ["/opt/app/releases/v[0-9]*[0-9]/bin/app"] },
 *                 "grep": { "normal_exit_codes": [0, 1], "on_failure": "rollback",
 *                           "test_command": "$DISE_CANDIDATE -q x /dev/null; test $? = 1",
 *                           "test_timeout_seconds": 60, "replay": false,
 *                           "rule_scope": "descendants", "critical": false,
 *                           "regenerate": { "strategy": "revert-hunks", "mode": "auto",
 *                                           "max_candidates": 64, "budget_seconds": 300,
 *                                           "ratchet": 0.95, "lock_after": 3,
 *                                           "cooldown_seconds": 300, "confidence_threshold": 0.9,
 *                                           "endpoint": URL, "model": M, "api_key_env": VAR,
 *                                           "timeout_seconds": 120, "max_attempts": 3,
 *                                           "command": CMD } } },
 *     "cas":    { "max_bytes": 1073741824 },
 *     "notify": { "webhook": "https://hooks.example/dise", "timeout_ms": 2000 } }
 */
#ifndef DISE_CONFIG_H
#define DISE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "names.h"

#define DISE_MAX_NORMAL_CODES 32

#define DISE_CANARY_MAX_STEPS 8

/* "canary": a new content of the tool earns its traffic step by step (collector/canary.c). */
struct dise_canary_policy {
	int on_deploy;		  /* "on_deploy": true: a new content at the tool's path starts as the canary */
	int on_regenerate;	  /* "on_regenerate" (default true with a "canary" object): a regenerated version too */
	int steps[DISE_CANARY_MAX_STEPS]; /* "steps": percents of runs, rising, the last 100 (default 5, 50, 100) */
	int nsteps;
	int64_t min_runs;	  /* "min_runs": canary runs at a step before it may be promoted (default 20) */
	int64_t min_seconds;	  /* "min_seconds": at a step before it may be promoted (default 60) */
	double failure_margin;	  /* "failure_margin": its failure rate may exceed the stable's by this (0.05) */
	double max_slowdown;	  /* "max_slowdown": its median wall time at most this times the stable's (1.5) */
};

/* "regenerate": healing forward from the healthy ancestor (healer/regen.c) */
enum dise_regen_mode {
	DISE_REGEN_AUTO,	/* "auto": route every candidate that passed */
	DISE_REGEN_SUGGEST,	/* "suggest": store it as a proposal; `dise approve ID` routes it */
	DISE_REGEN_ASK,		/* "ask": as suggest; `dise reject ID --why` feeds the next attempt's context */
	DISE_REGEN_CONFIDENCE,	/* "confidence": route when the confidence >= confidence_threshold, else ask */
};
enum dise_regen_strategy {
	DISE_REGEN_REVERT_HUNKS, /* "revert-hunks": ddmin over the hunks A -> P (offline) */
	DISE_REGEN_LLM,		 /* "llm": an OpenAI-compatible chat-completions endpoint proposes a diff */
	DISE_REGEN_COMMAND,	 /* "command": an external program edits the scratch tree (JSON context on stdin) */
};
struct dise_regen_policy {
	int enabled;		  /* "regenerate" given: off by default (rollback only) */
	enum dise_regen_mode mode; /* "mode", default "auto" */
	int max_candidates;	  /* "max_candidates": candidates ddmin may validate, default 64 */
	int budget_s;		  /* "budget_seconds": wall time of one attempt, default 300 */
	double ratchet;		  /* "ratchet": a candidate's fitness must be >= this x the best, default 0.95 */
	int lock_after;		  /* "lock_after": consecutive rejections that lock, default 3 */
	int cooldown_s;		  /* "cooldown_seconds": how long the lock holds, default 300 */
	enum dise_regen_strategy strategy; /* "strategy", default "revert-hunks" */
	double confidence;	  /* "confidence_threshold": mode confidence routes at >= this, default 0.9 */
	int max_attempts;	  /* "max_attempts": llm/command candidates per attempt, default 3 */
	int timeout_s;		  /* "timeout_seconds": one llm request / one command run, default 120 */
	/* strategy llm: "endpoint" (.../v1/chat/completions), "model", "api_key_env" (the NAME of the
	 * environment variable holding the key: the key itself is never in dise.json, the store or a log) */
	char *endpoint, *model, *api_key_env;
	char *command; /* strategy command: "command", run by sh -c in the sandbox, the context on stdin */
};

/* "source": where a compiled tool's source is (healer/regen-source.c); repo NULL: none known */
struct dise_source_policy {
	char *repo;	   /* "repo": an absolute path to a git work tree (read only: builds run in a scratch copy) */
	char *build;	   /* "build": sh -c in the scratch copy's top, inside the sandbox */
	char *artifact;	   /* "artifact": the built program, relative to the tree's top (no "..") */
	char *rev_command; /* "rev_command": sh -c with DISE_BINARY=<a version's copy>, prints its revision; NULL: none */
	int build_timeout_s; /* "build_timeout_seconds", default 300 */
};

struct dise_tool_policy {
	char *name; /* a group's name, a tool's path, or a file name (the policy of every tool of that name) */
	char **paths; /* "paths": globs (fnmatch, FNM_PATHNAME) of the invoked paths that are this one tool */
	int npaths;
	int normal[DISE_MAX_NORMAL_CODES]; /* exit codes that are not failures (besides 0) */
	int nnormal;
	int freeze;  /* "on_failure": "freeze": record, learn, alert; prune and route nothing */
	int restore; /* "on_failure": "restore": also write the healthy content back at the file's path */
	char *test_command; /* "test_command": sh -c, with DISE_CANDIDATE=<copy>; exit 0 validates a candidate */
	int test_timeout_s; /* "test_timeout_seconds", default 60 */
	int replay;	    /* "replay": true lets the healer re-run failing invocations against candidates */
	enum dise_scope rule_scope; /* "rule_scope": what the rules learned from this tool cover: "descendants"
				 * (default), "all_similar" (every version of the tool), "global" (every
				 * version of every tool); "critical": true is "global" */
	struct dise_canary_policy canary;
	struct dise_regen_policy regen;
	struct dise_source_policy source;
};

struct dise_config {
	struct dise_detect_policy detect;
	struct dise_tool_policy *tools;
	int ntools;
	uint64_t cas_max_bytes; /* 0: no cap */
	char *webhook;		/* "notify": { "webhook": URL }: a JSON POST per healing event; NULL: none */
	long webhook_timeout_ms; /* "notify": { "timeout_ms" }, default 2000 */
};

/* Whether a relative path stays inside its top: not absolute, no ".." and no empty component. */
int dise_relpath_inside(const char *s);

/* Loads path into *cfg (defaults first). Returns 0, or -EINVAL with a one-line reason in err. */
int dise_config_load(const char *path, struct dise_config *cfg, char *err, size_t errsize);
/* The same from len bytes of JSON text (the fuzz target's door). */
int dise_config_parse(const char *text, size_t len, struct dise_config *cfg, char *err, size_t errsize);
void dise_config_free(struct dise_config *cfg);

/*
 * tool's policy, or NULL when dise.json names no such tool: by its name
 * (a group, or the tool's path), else, for a policy without "paths", by the
 * file name of the tool's path.
 */
const struct dise_tool_policy *dise_config_tool(const struct dise_config *cfg, const char *tool);
/* The regeneration policy's defaults (not enabled; revert-hunks, auto, 64, 300 s, 0.95, 3, 300 s; 0.9, 3, 120 s). */
void dise_regen_policy_default(struct dise_regen_policy *g);
/* The canary policy's defaults (off; steps 5, 50, 100; 20 runs; 60 s; margin 0.05; slowdown 1.5). */
void dise_canary_policy_default(struct dise_canary_policy *c);

/* The group (a policy's name) whose "paths" match path, or NULL: path is its own tool. */
const char *dise_config_group(const struct dise_config *cfg, const char *path);

/* Whether tool's policy is to freeze instead of rolling back (no config, or no entry: no). */
int dise_config_freezes(const struct dise_config *cfg, const char *tool);

/*
 * The exit codes tool's policy calls normal, as "1,3" in buf: the third
 * argument of the store's SQL function dise_failed() (outcome.h), bound as
 * a parameter. NULL when there are none (or buf is too small for them).
 */
const char *dise_config_normal_codes(const struct dise_config *cfg, const char *tool, char *buf, size_t size);

#endif
