/* SPDX-License-Identifier: MIT */
/*
 * What the healer's files share (action.c: the healing cycle; rules.c: the
 * rules it learns and checks): a heal step's context, journaling, and the
 * tool's version DAG for policy.c.
 */
#ifndef DISE_HEAL_INTERNAL_H
#define DISE_HEAL_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "heal.h"
#include "policy.h"

/* One heal step's context: its request (0: none), version and tool. */
struct dise__ctx {
	dise_store *st;
	int64_t request, version;
	char tool[PATH_MAX]; /* a tool is the path it was invoked at */
	int64_t t0;
};

/* The tool's version DAG, for policy.c. */
struct dise__dag {
	struct dise_dag g;
	struct dise_dag_node *nodes;
	int64_t *parents;
};

int64_t dise__now_ns(clockid_t c);
/* A journal row for c's step, timed since the previous one. 0 or -errno. */
int dise__journal(struct dise__ctx *c, const char *step, const char *result, const char *detail);
/* c->tool from c->version. 0 or -errno. */
int dise__ctx_tool(struct dise__ctx *c);
int dise__dag_load(dise_store *st, const char *tool, struct dise__dag *d);
void dise__dag_free(struct dise__dag *d);
/* The avoidance rule learned from c->version's failures (known: an existing rule's, nothing new), journaled. */
int dise__learn_rule(struct dise__ctx *c, const char *reason, const struct dise_tool_policy *p, int known);

#endif
