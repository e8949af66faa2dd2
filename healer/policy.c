/* SPDX-License-Identifier: MIT */
/*
 * Pure decisions of the healing cycle over a version DAG held in memory.
 * Walks are breadth-first with a visited set, so merges (several parents)
 * and diamonds are handled, and nothing is visited twice.
 */
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int dise_health_parse(const char *s, enum dise_health *ret)
{
	int h = dise_health_from_name(s);

	if (h < 0)
		return -1;
	*ret = (enum dise_health)h;
	return 0;
}

static const struct dise_dag_node *find(const struct dise_dag *g, int64_t id)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->nodes[i].id == id)
			return &g->nodes[i];
	return NULL;
}

static size_t index_of(const struct dise_dag *g, int64_t id)
{
	return (size_t)(find(g, id) - g->nodes);
}

static int is_rejected(int64_t id, const int64_t *rejected, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rejected[i] == id)
			return 1;
	return 0;
}

int64_t dise_heal_pick_ancestor(const struct dise_dag *g, int64_t broken, const int64_t *rejected, size_t nrejected)
{
	int64_t *queue, found = 0;
	char *seen;
	size_t head = 0, tail = 0, i;
	const struct dise_dag_node *b = find(g, broken);

	if (!b || !g->n)
		return 0;
	queue = calloc(g->n, sizeof(*queue));
	seen = calloc(g->n, 1);
	if (!queue || !seen)
		goto out;
	seen[index_of(g, broken)] = 1;
	for (i = 0; i < b->nparents; i++) {
		const struct dise_dag_node *p = find(g, b->parents[i]);

		if (p && !seen[index_of(g, p->id)]) {
			seen[index_of(g, p->id)] = 1;
			queue[tail++] = p->id;
		}
	}
	while (head < tail) {
		const struct dise_dag_node *v = find(g, queue[head++]);

		if (!v) /* only ids found in g are queued */
			continue;
		if (v->health == DISE_HEALTHY && !is_rejected(v->id, rejected, nrejected)) {
			found = v->id;
			break;
		}
		for (i = 0; i < v->nparents; i++) { /* not healthy, or rejected: look further up */
			const struct dise_dag_node *p = find(g, v->parents[i]);

			if (p && !seen[index_of(g, p->id)]) {
				seen[index_of(g, p->id)] = 1;
				queue[tail++] = p->id;
			}
		}
	}
out:
	free(queue);
	free(seen);
	return found;
}

size_t dise_heal_descendants(const struct dise_dag *g, int64_t pruned, int64_t *out)
{
	char *seen = calloc(g->n ? g->n : 1, 1);
	size_t n = 0, head = 0, i, k;

	if (!seen || !find(g, pruned)) {
		free(seen);
		return 0;
	}
	seen[index_of(g, pruned)] = 1;
	out[n++] = pruned; /* the walk's queue; dropped from the answer at the end */
	while (head < n) {
		int64_t v = out[head++];

		for (i = 0; i < g->n; i++)
			for (k = 0; k < g->nodes[i].nparents; k++)
				if (g->nodes[i].parents[k] == v && !seen[i]) {
					seen[i] = 1;
					out[n++] = g->nodes[i].id;
				}
	}
	free(seen);
	memmove(out, out + 1, (n - 1) * sizeof(*out));
	return n - 1;
}
