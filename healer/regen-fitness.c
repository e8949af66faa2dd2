/* SPDX-License-Identifier: MIT */
/*
 * The Ratchet's measure (regen.c step 4): the fitness of a candidate
 * against its ancestor A, from paired, alternated rounds of the same checks
 * in the same sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-internal.h"

#define ROUNDS 5	    /* fitness: interleaved rounds of the checks, the fastest of each side compared */
#define MAX_ROUNDS 15	    /* more while the candidate looks slower: a loaded machine's noise, or its own cost? */
/*
 * What the candidate's extra time must exceed to count: 20 ms plus a tenth
 * of the ancestor's time. The extra time is the lower quartile, over
 * rounds, of the candidate's time minus the ancestor's in the same round
 * (the two run back to back, in alternating order): a load that lasts
 * seconds slows both alike, and a cost of the candidate's own shows in
 * every round, where a burst of load shows in some. Comparing the fastest
 * of each side instead rejected a candidate equal to its ancestor on the
 * loaded 2-core machine (bwrap's own start, most of each run, took 95 to
 * 155 ms there); the median of the differences rejected one too, at load
 * 10: +112 ms over 15 rounds for the same script (test-regen,
 * test_suggest_approve_reject), where a candidate 0.7 s slower is
 * 0.7 s slower in all of them (test_ratchet).
 */
#define NOISE(t) (20000000 + (t) / 10)
/*
 * The ancestor's time in both (the margin and the ratio) is its lower
 * quartile over rounds, not its median: load only adds time, and a median
 * the load inflated (1.6 s for checks that take 0.2 s, ASan suite in CI)
 * widened the margin past a candidate 0.7 s slower in most rounds and
 * diluted its penalty: accepted at the first look, a false heal.
 */

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The lower quartile (the smallest of fewer than 5) */
static int64_t lower_quartile(const int64_t *v, int n)
{
	int64_t t[MAX_ROUNDS];

	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	return t[(n - 1) / 4];
}

/* One side of a round: text as the candidate, its checks; 1 passed (time in *t), 0 failed, -errno. */
static int side(struct rg *g, const char *text, size_t len, int64_t *t)
{
	int r = dise__regen_write(g, text, len);

	return r < 0 ? r : dise__regen_checks(g, t);
}

/*
 * Fitness of the candidate (text) relative to A, measured the same way:
 * rounds of every check on A and on the candidate back to back (the order
 * alternating). A's fitness is its pass ratio (1: it passed); the
 * candidate's, its pass ratio times min(1, (A's lower quartile + NOISE) /
 * (A's lower quartile + the extra time's lower quartile)). ROUNDS rounds; a candidate
 * below the ratchet's threshold after them is measured MAX_ROUNDS rounds
 * and judged on all of them: one rejected for being slow was slow in most
 * of them. 0 or -errno.
 */
int dise__regen_measure(struct rg *g, const char *text, size_t len, double threshold, char *note, size_t size)
{
	int64_t ta[MAX_ROUNDS], extra[MAX_ROUNDS], a = 0, x = 0, t1 = 0, t2 = 0;
	int pa = 0, pc = 0, n = 0, r = 0, k;

	for (k = 0; k < MAX_ROUNDS; k++) {
		int first = k % 2 == 0, ra, rc;

		ra = first ? side(g, g->atext, g->alen, &t1) : 0;
		rc = ra >= 0 ? side(g, text, len, &t2) : 0;
		if (!first && rc >= 0)
			ra = side(g, g->atext, g->alen, &t1);
		if (ra < 0 || rc < 0) {
			r = ra < 0 ? ra : rc;
			break;
		}
		pa += ra, pc += rc;
		if (ra && rc) {
			ta[n] = t1;
			extra[n++] = t2 - t1;
		}
		g->base = (double)pa / (k + 1);
		g->fitness = (double)pc / (k + 1);
		if (n) {
			a = lower_quartile(ta, n);
			x = lower_quartile(extra, n);
			if (x > NOISE(a))
				g->fitness *= (double)(a + NOISE(a)) / (double)(a + x);
		}
		/*
		 * One look at ROUNDS, then all MAX_ROUNDS: stopping at the first
		 * round of the extension where the candidate looked fast enough
		 * gave a slower one ten chances to meet a burst of load on its
		 * ancestor's side, and test_ratchet's candidate, 0.7 s slower,
		 * passed after 7 rounds (ASan suite, CI, load ~12).
		 */
		if (k + 1 == ROUNDS && g->fitness >= threshold)
			break;
	}
	if (r < 0)
		return r;
	snprintf(note, size, "checks: %zu (test command + %zu rule replay%s) x %d rounds; ancestor %.1f ms (lower quartile), "
			     "candidate %+.1f ms (lower quartile)",
		 g->nrules + 1, g->nrules, g->nrules == 1 ? "" : "s", k < MAX_ROUNDS ? k + 1 : k, (double)a / 1e6,
		 (double)x / 1e6);
	return 0;
}
