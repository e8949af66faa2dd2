/* SPDX-License-Identifier: MIT */
/*
 * The healer's pure decisions (healer/policy.c): which ancestor, which
 * descendants; and the test command of a candidate (healer/validate.c).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "policy.h"
#include "validate.h"

#define H DISE_HEALTHY
#define D DISE_DEGRADED
#define P DISE_PRUNED
#define F DISE_FAILED

/* v1 <- v2 <- v3 */
static const int64_t p2[] = { 1 }, p3[] = { 2 };

static void test_chain(void **state)
{
	struct dise_dag_node n[] = { { 1, H, NULL, 0 }, { 2, F, p2, 1 }, { 3, H, p3, 1 } };
	struct dise_dag g = { n, 3 };
	int64_t out[3];

	(void)state;
	assert_int_equal(dise_heal_pick_ancestor(&g, 2, NULL, 0), 1);
	assert_int_equal(dise_heal_pick_ancestor(&g, 3, NULL, 0), 1); /* v2 is not healthy: further up */
	assert_int_equal(dise_heal_pick_ancestor(&g, 1, NULL, 0), 0); /* a root has no ancestor */
	assert_int_equal(dise_heal_descendants(&g, 2, out), 1);
	assert_int_equal(out[0], 3);
	assert_int_equal(dise_heal_descendants(&g, 1, out), 2);
}

/* v1 <- v2, v1 <- v3, v4 <- (v2, v3): a merge and a diamond */
static const int64_t m4[] = { 2, 3 }, d2[] = { 1 }, d3[] = { 1 };

static void test_merge(void **state)
{
	struct dise_dag_node n[] = { { 1, H, NULL, 0 }, { 2, P, d2, 1 }, { 3, H, d3, 1 }, { 4, F, m4, 2 } };
	struct dise_dag g = { n, 4 };
	int64_t out[4];

	(void)state;
	/* the nearest healthy parent of the merge: v3, not the pruned v2, not the farther v1 */
	assert_int_equal(dise_heal_pick_ancestor(&g, 4, NULL, 0), 3);
	{
		/* v3 failed its validation: the next candidate, through it, is v1 (v2 is pruned) */
		const int64_t rej3[] = { 3 }, rej31[] = { 3, 1 };

		assert_int_equal(dise_heal_pick_ancestor(&g, 4, rej3, 1), 1);
		assert_int_equal(dise_heal_pick_ancestor(&g, 4, rej31, 2), 0);
	}
	n[2].health = D;
	assert_int_equal(dise_heal_pick_ancestor(&g, 4, NULL, 0), 1); /* both parents unhealthy: their common ancestor */
	n[1].health = H;
	assert_int_equal(dise_heal_pick_ancestor(&g, 4, NULL, 0), 2);
	n[0].health = P, n[1].health = P, n[2].health = P;
	assert_int_equal(dise_heal_pick_ancestor(&g, 4, NULL, 0), 0); /* nothing healthy left */
	/* descendants of v1 through the diamond: v2, v3, v4, each once */
	assert_int_equal(dise_heal_descendants(&g, 1, out), 3);
	assert_int_equal(dise_heal_descendants(&g, 3, out), 1);
	assert_int_equal(out[0], 4);
}

static void test_names(void **state)
{
	enum dise_health h;

	(void)state;
	assert_string_equal(dise_health_name(DISE_PRUNED), "pruned");
	assert_int_equal(dise_health_parse("degraded", &h), 0);
	assert_int_equal(h, DISE_DEGRADED);
	assert_int_equal(dise_health_parse("nonsense", &h), -1);
}

/* Writes an executable shell script at path. */
static void script(const char *path, const char *body)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/*
 * The README's test command, `$DISE_CANDIDATE --self-test` unquoted, with a
 * DISE_HOME that has a space in it: the healthy candidate passes, the
 * broken one fails, as under a plain DISE_HOME.
 */
static void test_candidate_in_spaced_home(void **state)
{
	char top[] = "/tmp/dise-healer-XXXXXX", home[64], good[96], bad[96], why[256];
	struct dise_tool_policy p = { .test_command = "$DISE_CANDIDATE --self-test", .test_timeout_s = 10 };

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(home, sizeof(home), "%s/my home", top);
	assert_int_equal(mkdir(home, 0700), 0);
	snprintf(good, sizeof(good), "%s/good copy", home);
	snprintf(bad, sizeof(bad), "%s/bad", home);
	script(good, "[ \"$1\" = --self-test ] && [ $# = 1 ]");
	script(bad, "exit 1");
	assert_int_equal(dise_validate_test(&p, good, why, sizeof(why)), 0);
	assert_string_equal(why, "test command passed");
	assert_int_equal(dise_validate_test(&p, bad, why, sizeof(why)), 1);
	assert_string_equal(why, "test command exited 1");
	/* quoted, as the README now writes it, works as well */
	p.test_command = "\"$DISE_CANDIDATE\" --self-test";
	assert_int_equal(dise_validate_test(&p, good, why, sizeof(why)), 0);
	unlink(good), unlink(bad), rmdir(home), rmdir(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_candidate_in_spaced_home),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
