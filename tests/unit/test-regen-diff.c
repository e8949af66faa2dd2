/* SPDX-License-Identifier: MIT */
/* The line diff revert-hunks searches over (healer/regen-diff.c): hunks, reverts, the unified diff. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "regen-diff.h"

struct pair {
	struct dise_lines a, p;
	struct dise_hunk *h;
	size_t n;
};

static void diff(const char *a, const char *p, struct pair *d)
{
	assert_int_equal(dise_lines_split(a, strlen(a), &d->a), 0);
	assert_int_equal(dise_lines_split(p, strlen(p), &d->p), 0);
	assert_int_equal(dise_diff_hunks(&d->a, &d->p, &d->h, &d->n), 0);
}

static void pair_free(struct pair *d)
{
	dise_lines_free(&d->a);
	dise_lines_free(&d->p);
	free(d->h);
}

static void assert_apply(struct pair *d, uint64_t mask, const char *want)
{
	size_t len;
	char *t = dise_diff_apply(&d->a, &d->p, d->h, d->n, mask, &len, "x", NULL);

	assert_non_null(t);
	assert_int_equal(len, strlen(want));
	assert_string_equal(t, want);
	free(t);
}

/* Three separate changes: three hunks; reverting all gives the ancestor, none the pruned, one each alone. */
static void test_hunks_and_reverts(void **state)
{
	static const char a[] = "1\n2\n3\n4\n5\n6\n7\n";
	static const char p[] = "0\n1\n2\nthree\n4\n5\n7\n8";
	struct pair d;

	(void)state;
	diff(a, p, &d);
	assert_int_equal(d.n, 4); /* 0 inserted, 3 changed, 6 deleted, 8 appended */
	assert_apply(&d, 0, p);
	assert_apply(&d, 0xf, a);
	assert_apply(&d, 0x2, "0\n1\n2\n3\n4\n5\n7\n8");
	assert_apply(&d, 0x4, "0\n1\n2\nthree\n4\n5\n6\n7\n8");
	pair_free(&d);
}

/* The unified diff of a revert set: only the kept hunks, numbered in the result; a missing newline said. */
static void test_unified(void **state)
{
	static const char a[] = "a\nb\nc\n";
	static const char p[] = "a\nB\nc\nd";
	struct pair d;
	size_t len;
	char *u = NULL, *t;

	(void)state;
	diff(a, p, &d);
	assert_int_equal(d.n, 2);
	t = dise_diff_apply(&d.a, &d.p, d.h, d.n, 0x1, &len, "tool", &u);
	assert_string_equal(t, "a\nb\nc\nd");
	assert_string_equal(u, "--- a/tool\n+++ b/tool\n@@ -3,0 +4,1 @@\n+d\n\\ No newline at end of file\n");
	free(t);
	free(u);
	pair_free(&d);
}

/* Equal texts: no hunk; more hunks than a revert set holds: refused, not cut. */
static void test_limits(void **state)
{
	char a[4096] = "", p[4096] = "";
	struct dise_lines la, lp;
	struct dise_hunk *h = NULL;
	size_t n = 99;
	struct pair d;

	(void)state;
	diff("x\ny\n", "x\ny\n", &d);
	assert_int_equal(d.n, 0);
	pair_free(&d);
	for (int i = 0; i < 70; i++) {
		snprintf(a + strlen(a), sizeof(a) - strlen(a), "same %d\nold %d\n", i, i);
		snprintf(p + strlen(p), sizeof(p) - strlen(p), "same %d\nnew %d\n", i, i);
	}
	assert_int_equal(dise_lines_split(a, strlen(a), &la), 0);
	assert_int_equal(dise_lines_split(p, strlen(p), &lp), 0);
	assert_int_equal(dise_diff_hunks(&la, &lp, &h, &n), -E2BIG);
	dise_lines_free(&la);
	dise_lines_free(&lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hunks_and_reverts),
		cmocka_unit_test(test_unified),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
