/* SPDX-License-Identifier: MIT */
/*
 * Detectors, run by the collector over what it stored (SQL over runs and
 * versions; the healer consumes heal_requests). Blame by comparison: a
 * version is judged against its baseline, the ancestors that ran before it
 * and were not condemned (README: "What counts as a strike").
 *
 *  - strikes: `strikes` failures of a version within `window_ns` that its
 *    baseline did not have: a self-raised crash with a new signature, a
 *    non-zero exit of an invocation (argv, cwd) the baseline ran ok. With
 *    no baseline at all (a first version), its crashes mark it failing:
 *    visible and notified, never pruned, since there is nowhere to go;
 *  - failure rate: its failures on the invocations its baseline also ran
 *    are significantly more frequent than the baseline's (one-sided Fisher
 *    exact test, p < `error_alpha`, at least `error_min_runs` on each side);
 *  - slowdown: on one invocation class, the median wall time of its ok
 *    runs (at least `slow_recent`) is more than `slow_factor` times the
 *    baseline's (at least `slow_min_history` runs), and at least
 *    `slow_min_delta_ms` more, and a load cannot explain it: its median CPU
 *    time grew as much, or its waits grew by far more than its CPU time,
 *    with no watched child (slow_cause). Never a version against its own past.
 *
 * Nor a version whose content came back at its path after another
 * version ran there (store.h: dise_store_version_alternates), nor a build
 * system's probe (toolpath.h: dise_is_build_probe): unrelated programs
 * built at one path, configure's conftest, are not a lineage.
 *
 * A pruned, failed or failing version is not looked at (it was judged
 * already), nor one that already has a queued heal request: the partial
 * unique index heal_open makes "at most one queued request per version"
 * hold even if two collectors raced.
 *
 * What counts as a failure at all is outcome.h's, with the exit codes the
 * tool's policy (dise.json) calls normal; the thresholds are dise.json's "detect".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "detect.h"
#include "names.h"
#include "toolpath.h"

void dise_detect_policy_default(struct dise_detect_policy *p)
{
	p->strikes = 3;
	p->window_ns = INT64_C(3600) * 1000000000;
	p->error_rate = 0.05;
	p->error_alpha = 0.01;
	p->error_runs = 100;
	p->error_min_runs = 20;
	p->slow_recent = 5;
	p->slow_factor = 1.30;
	p->slow_min_history = 5;
	p->slow_min_delta_ms = 10;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The medians of the wall and CPU times of d[0..n) (n > 0), each on its own; tmp holds n values. */
static void medians(const struct dise_duration *d, int n, int64_t *tmp, int64_t *wall, int64_t *cpu)
{
	int i, k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < n; i++)
			tmp[i] = k ? d[i].cpu_ns : d[i].wall_ns;
		qsort(tmp, (size_t)n, sizeof(*tmp), cmp_i64);
		*(k ? cpu : wall) = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
	}
}

/*
 * One-sided Fisher exact test: the probability, if failures fell on the
 * version's runs and its baseline's at random (a failures among n1 runs,
 * b among n2), of the version getting a or more of the a + b failures.
 */
double dise_fisher_greater(int64_t a, int64_t n1, int64_t b, int64_t n2)
{
	int64_t k = a + b, n = n1 + n2, x, hi = k < n1 ? k : n1;
	double p = 0, lc = lgamma((double)n + 1) - lgamma((double)n1 + 1) - lgamma((double)n2 + 1);

	for (x = a; x <= hi; x++) {
		if (k - x > n2)
			continue;
		p += exp(lgamma((double)k + 1) - lgamma((double)x + 1) - lgamma((double)(k - x) + 1) +
			 lgamma((double)(n - k) + 1) - lgamma((double)(n1 - x) + 1) - lgamma((double)(n2 - k + x) + 1) - lc);
	}
	return p > 1 ? 1 : p;
}

/* Version v's label as people see it (v1, v2… per tool), for a detection's description. */
static const char *label_of(dise_store *st, int64_t v, char *buf, size_t size)
{
	dise_store_version_label(st, v, buf, size);
	return buf;
}

/* 1 when version v may be judged against the versions before it at its path (dise_store_version_alternates), 0 if not, or -errno. */
static int judged(dise_store *st, int64_t v)
{
	int r = dise_store_version_alternates(st, v);

	return r < 0 ? r : !r;
}

/* 1 when one of the newest (at most 20) runs of d[0..n) started a watched process while it ran, 0 if none, or -errno. */
static int spawned(dise_store *st, const struct dise_duration *d, int n)
{
	int i, r = 0;

	for (i = 0; r == 0 && i < n && i < 20; i++)
		r = dise_store_run_spawned(st, d[i].run_id);
	return r;
}

/*
 * Why the version's runs of one class are slower than its baseline's, in
 * terms a machine's load cannot fake, or NULL (not a slowdown): wall time
 * alone is not evidence, a machine busy with other work stretches it.
 *  - it does more work: its median CPU time (user + sys) is slow_factor
 *    times the baseline's and slow_min_delta_ms more. Competing processes
 *    lengthen the wall time of a CPU-bound run, not its CPU time;
 *  - it waits longer: it waited nearly all the time before (CPU at most a
 *    tenth of its wall time: it sleeps, or waits for a peer), and its
 *    median wait (wall - CPU) grew by more than 10 times its CPU time (the
 *    larger median of the two sides): a load stretches a run's CPU work,
 *    and would have to leave it less than an eleventh of a CPU to add that
 *    much; and none of the version's runs started a watched process (a
 *    script waiting for its commands waits for their CPU work, which a
 *    load stretches as much).
 * What is left (e.g. a shell script 40% slower with the same CPU time
 * while the machine was busier) is load, not the version.
 */
static const char *slow_cause(dise_store *st, const struct dise_detect_policy *p, const struct dise_duration *mine, int a,
			      int64_t wall, int64_t cpu, int64_t base_wall, int64_t base_cpu, int *err)
{
	int64_t min_delta = (int64_t)p->slow_min_delta_ms * 1000000;

	if ((double)cpu > p->slow_factor * (double)base_cpu && cpu - base_cpu >= min_delta)
		return "more CPU work";
	/*
	 * Waits only for a run that waited nearly all the time before (its CPU
	 * at most a tenth of its wall time): a CPU-bound run left a sixth of a
	 * CPU by five busy processes waits five times its CPU time too (seen on
	 * a clean CI machine), and a baseline measured on a busy machine had
	 * waited most of its time already (35 ms of CPU in 123 ms, then in 620
	 * ms under five more busy loops: judged a slowdown under the earlier
	 * "a third", test-blame's test_slowdown_not_load at load 15). That is
	 * the load.
	 */
	if (base_wall - base_cpu < 9 * base_cpu)
		return NULL;
	if ((wall - cpu) - (base_wall - base_cpu) <= 10 * (cpu > base_cpu ? cpu : base_cpu))
		return NULL;
	*err = spawned(st, mine, a);
	return *err == 0 ? "longer waits, no watched child" : NULL;
}

/*
 * Slowdown: for each invocation class the version ended ok often enough,
 * its median wall time against its baseline's on the same class, explained
 * by its CPU time or its waits (slow_cause).
 */
static int check_slowdown(dise_store *st, const struct dise_detect_policy *p, const struct dise_version_ref *ref,
			  const char *normal, int64_t now)
{
	const int64_t v = ref->id;
	const char *tool = ref->tool;
	enum { MAX = 200 };
	struct dise_invocation *c = NULL;
	size_t n = 0, i;
	struct dise_duration *mine = malloc(sizeof(*mine) * MAX), *theirs = malloc(sizeof(*theirs) * MAX);
	int64_t *tmp = malloc(sizeof(int64_t) * MAX);
	char desc[PATH_MAX + 512], lbl[64];
	/* the classes with new ok runs when that is known, else every class it ran often enough */
	int r = !mine || !theirs || !tmp ? -ENOMEM
		: ref->classes_known ? 0
				     : dise_store_version_classes(st, v, p->slow_recent, &c, &n);
	const struct dise_invocation *cl = ref->classes_known ? ref->classes : c;

	if (ref->classes_known)
		n = ref->nclasses;

	for (i = 0; r == 0 && i < n; i++) {
		/* the baseline's first: without enough of it (a first version), the version's own are not read */
		int b = dise_store_class_ok_durations(st, v, 1, &cl[i], theirs, MAX), a = 0;
		int64_t wall, cpu, base_wall, base_cpu;
		const char *why;

		if (b >= 0 && b < p->slow_min_history)
			continue;
		if (b < 0 || (a = dise_store_class_ok_durations(st, v, 0, &cl[i], mine, MAX)) < 0) {
			r = b < 0 ? b : a;
			break;
		}
		if (a < p->slow_recent)
			continue;
		medians(mine, a, tmp, &wall, &cpu);
		medians(theirs, b, tmp, &base_wall, &base_cpu);
		/* both relative and absolute: a 0.06 ms tool taking 0.09 ms on a busy machine is not a regression */
		if (base_wall <= 0 || (double)wall <= p->slow_factor * (double)base_wall ||
		    wall - base_wall < (int64_t)p->slow_min_delta_ms * 1000000)
			continue;
		if (!(why = slow_cause(st, p, mine, a, wall, cpu, base_wall, base_cpu, &r))) {
			if (r < 0)
				break;
			continue;
		}
		snprintf(desc, sizeof(desc),
			 "%s %s is slower than its ancestors on the same invocation (%s): median %.3f ms wall, "
			 "%.3f ms CPU over %d runs, against %.3f ms wall, %.3f ms CPU over %d runs before it",
			 tool, label_of(st, v, lbl, sizeof(lbl)), why, wall / 1e6, cpu / 1e6, a, base_wall / 1e6, base_cpu / 1e6, b);
		if ((r = judged(st, v)) > 0)
			r = dise_store_detection_add(st, v, normal, DISE_DETECT_SLOWDOWN, "medium", desc, now);
		break;
	}
	if (!ref->classes_known)
		dise_invocations_free(c, n);
	free(mine);
	free(theirs);
	free(tmp);
	return r;
}

/*
 * What the detectors say about one version. failures: 0 when none of the
 * runs that made it one to look at failed (only the slowdown can be new);
 * DISE_DETECT_BAD_ENDS_ONLY: the strikes only (the rest waits for the next
 * pass, which looks at everything that changed). exact: the pass over the
 * window, every failure read anew (the net under the verdicts kept).
 */
static int check_version(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg,
			 const struct dise_version_ref *ref, int64_t now, int failures, int exact)
{
	const int64_t v = ref->id;
	const char *tool = ref->tool;
	int64_t strikes = 0;
	int has_base = 0;
	char desc[PATH_MAX + 512], nbuf[512], lbl[64];
	int r;
	/* what a failure is: outcome.h decides, with the exit codes the tool's policy calls normal */
	const char *normal = dise_config_normal_codes(cfg, tool, nbuf, sizeof(nbuf));

	/*
	 * A build system's probe (configure's conftest, toolpath.h) is not a
	 * release of a program, nor is a content that came back at its path
	 * after another ran there (judged(), asked only before a detection):
	 * the versions before it are other programs, not a baseline, and
	 * routing to one would run the wrong program. Recorded, never judged.
	 */
	if (dise_is_build_probe(tool))
		return dise_store_version_strikes_settle(st, v);
	/* strikes (only failures can make them, or the failure rate: when none arrived, only the slowdown) */
	if (!failures)
		goto slowdown;
	/*
	 * Over what changed, each failure's verdict made when it was first
	 * looked at; a count that reaches the threshold, and the pass over the
	 * window, read every failure anew: nothing is decided on a verdict alone.
	 */
	if (!exact && (r = dise_store_version_strikes_seen(st, v, normal, now - p->window_ns, &strikes, &has_base)) < 0)
		return r;
	int asked = 0; /* judged() said yes already */

	if (!exact && strikes >= p->strikes) {
		if ((r = judged(st, v)) <= 0)
			return r; /* not to be judged (another version ran at its path meanwhile): nothing to count for */
		asked = 1;
	}
	if (exact || strikes >= p->strikes) {
		int64_t seen = strikes;

		if ((r = dise_store_version_strikes(st, v, normal, now - p->window_ns, &strikes, &has_base)) < 0)
			return r;
		/* verdicts the facts since overturned (a later ok run of the class): judged again, from now */
		if (!exact && seen >= p->strikes && strikes < p->strikes &&
		    (r = dise_store_version_strikes_rejudge(st, v, normal, now - p->window_ns)) < 0)
			return r;
	}
	if (strikes >= p->strikes) {
		if (!asked && (r = judged(st, v)) <= 0)
			return r;
		if (!has_base) {
			/* nothing ran before it: nothing to compare with, nowhere to go. Visible, notified, still run. */
			snprintf(desc, sizeof(desc),
				 "%s %s crashed %lld times within %lld s, with no earlier version to compare it to "
				 "or route to: marked failing, nothing pruned",
				 tool, label_of(st, v, lbl, sizeof(lbl)), (long long)strikes, (long long)(p->window_ns / 1000000000));
			r = dise_store_version_mark_failing(st, v, tool, normal, desc, now);
			return r < 0 ? r : 0;
		}
		snprintf(desc, sizeof(desc),
			 "%s %s failed %lld times within %lld s where its ancestors did not (a new crash "
			 "signature, or an invocation they ran ok)",
			 tool, label_of(st, v, lbl, sizeof(lbl)), (long long)strikes, (long long)(p->window_ns / 1000000000));
		return dise_store_detection_add(st, v, normal, DISE_DETECT_THREE_STRIKES, "critical", desc, now);
	}
	if (!has_base || failures == DISE_DETECT_BAD_ENDS_ONLY)
		return 0; /* no baseline: a failure rate or a wall time means nothing on its own */

	/* failure rate against the baseline's on the same invocations: one-sided Fisher exact test */
	{
		struct dise_rate_pair c = { 0, 0, 0, 0 };
		double pv;

		if ((r = dise_store_version_compare_rate(st, v, normal, p->error_runs, &c)) < 0)
			return r;
		if (c.runs >= p->error_min_runs && c.base_runs >= p->error_min_runs &&
		    (double)c.fails / (double)c.runs > (double)c.base_fails / (double)c.base_runs &&
		    (pv = dise_fisher_greater(c.fails, c.runs, c.base_fails, c.base_runs)) < p->error_alpha) {
			if ((r = judged(st, v)) <= 0)
				return r;
			snprintf(desc, sizeof(desc),
				 "%s %s failed %lld of %lld runs, its ancestors %lld of %lld on the same invocations "
				 "(one-sided Fisher exact test: p = %.2g < %.2g)",
				 tool, label_of(st, v, lbl, sizeof(lbl)), (long long)c.fails, (long long)c.runs, (long long)c.base_fails,
				 (long long)c.base_runs, pv, p->error_alpha);
			return dise_store_detection_add(st, v, normal, DISE_DETECT_ERROR_RATE, "high", desc, now);
		}
	}

slowdown:
	return check_slowdown(st, p, ref, normal, now);
}

int dise_detect(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now)
{
	return dise_detect_since(st, p, cfg, now, -1, NULL, 1);
}

int dise_detect_since(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now,
		      int64_t after_run, int64_t *ret_last_run, int failures)
{
	struct dise_version_ref *v = NULL;
	size_t n = 0, i;
	int64_t touched = -1;
	int r = 0, added = 0;

	int only = failures == DISE_DETECT_BAD_ENDS_ONLY;

	if (ret_last_run && !only && (r = dise_store_last_run_id(st, ret_last_run)) < 0)
		return r;
	/*
	 * The versions to look at, with no queued heal request: every version
	 * with runs in the window, or only those of the runs stored after
	 * after_run (the rowid: new rows, short runs whose START and end came
	 * together; a long run's end updates an older row and waits for the
	 * next full pass). Read whole before the transaction; what they were
	 * chosen from (the touched runs) is recorded as looked at in it.
	 */
	if ((r = dise_store_versions_to_check(st, now - p->window_ns, after_run, only, &v, &n, &touched)) < 0)
		return r;
	if (!n)
		r = dise_store_touched_seen_set(st, touched);
	/*
	 * Bad ends only: a version whose strikes cannot reach the threshold
	 * now, counting every failure not judged yet as one, has nothing to
	 * decide at once; its failures are judged by the pass owed (within 200
	 * ms, a second under a steady stream: resolver-loop.c), with the others
	 * of its version in one statement.
	 */
	for (i = 0; only && i < n;) /* (no classes to free in such a pass) */
		if (v[i].strikes_possible < p->strikes)
			v[i] = v[--n];
		else
			i++;
	if (n) {
		r = dise_store_begin(st);
		for (i = 0; r == 0 && i < n; i++) {
			/* strikes and the failure rate move only with the version's own new failures */
			int k = check_version(st, p, cfg, &v[i], now, !v[i].failed ? 0 : only ? DISE_DETECT_BAD_ENDS_ONLY : failures,
					      after_run < 0);

			if (k < 0)
				r = k;
			else
				added += k;
		}
		if (r == 0 && (r = dise_store_touched_seen_set(st, touched)) == 0)
			r = dise_store_commit(st);
		if (r < 0)
			dise_store_rollback(st);
	}
	dise_version_refs_free(v, n);
	return r < 0 ? r : added;
}
