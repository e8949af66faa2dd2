/* SPDX-License-Identifier: MIT */
/* A model's unified diff on the scratch tree's one file (healer/regen-patch.c): applied, or refused with why. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "regen-patch.h"

static const char base[] = "one\ntwo\nthree\nfour\nfive\nsix\n";

static int apply(const char *diff, char **out, char *why)
{
	size_t len = 0;

	why[0] = '\0';
	return dise_patch_apply(base, strlen(base), diff, strlen(diff), "t.sh", out, &len, why, 256);
}

static void test_applies(void **state)
{
	char why[256], *out = NULL;

	(void)state;
	/* context, a removal, an addition; a second hunk whose line number is off by two; a pure insertion */
	assert_int_equal(apply("prose first\n--- a/t.sh\n+++ b/t.sh\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
			       "@@ -7,1 +7,2 @@\n five\n+five and a half\n",
			       &out, why),
			 0);
	assert_string_equal(out, "one\nTWO\nthree\nfour\nfive\nfive and a half\nsix\n");
	free(out);
	assert_int_equal(apply("--- t.sh\n+++ t.sh\n@@ -0,0 +1 @@\n+zero\n", &out, why), 0);
	assert_string_equal(out, "zero\none\ntwo\nthree\nfour\nfive\nsix\n");
	free(out);
}

static void test_refuses(void **state)
{
	static const struct {
		const char *diff, *why;
		int r;
	} bad[] = {
		{ "--- a/../../.bashrc\n+++ b/../../.bashrc\n@@ -0,0 +1 @@\n+x\n", "out of the scratch tree", -EPERM },
		{ "--- a/x/../../t.sh\n+++ b/t.sh\n@@ -0,0 +1 @@\n+x\n", "out of the scratch tree", -EPERM },
		{ "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-one\n+x\n", "absolute path", -EPERM },
		{ "--- a/other\n+++ b/other\n@@ -1 +1 @@\n-one\n+x\n", "only t.sh is in the scratch tree", -EPERM },
		{ "--- /dev/null\n+++ b/t.sh\n@@ -0,0 +1 @@\n+x\n", "absolute path", -EPERM },
		{ "diff --git a/t.sh b/t.sh\nnew file mode 120000\n", "new file mode", -EPERM },
		{ "diff --git a/t.sh b/t.sh\nGIT binary patch\nliteral 1\n", "GIT binary patch", -EPERM },
		{ "Binary files a/t.sh and b/t.sh differ\n", "Binary files", -EPERM },
		{ "--- a/t.sh\n+++ b/t.sh\n@@ -1,2 +1,2 @@\n one\n-not there\n+x\n", "does not apply", -EINVAL },
		{ "--- a/t.sh\n+++ b/t.sh\n@@ -1,3 +1,3 @@\n one\n-two\n", "does not hold the lines", -EINVAL },
		/* an insertion far past the end (fuzz-patch: it was applied at a line past the text, read out of bounds) */
		{ "--- a/t.sh\n+++ b/t.sh\n@@ -40,0 +41,1 @@\n+x\n", "does not apply", -EINVAL },
		{ "I would rather not.\n", "no hunk", -EINVAL },
	};
	char why[256], *out = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = apply(bad[i].diff, &out, why);

		if (r != bad[i].r || !strstr(why, bad[i].why))
			print_error("%zu: %d '%s'\n", i, r, why);
		assert_int_equal(r, bad[i].r);
		assert_non_null(strstr(why, bad[i].why));
		assert_null(out);
	}
	/* a NUL byte: binary */
	assert_int_equal(dise_patch_apply(base, strlen(base), "--- a/t.sh\0", 11, "t.sh", &out, &(size_t){ 0 }, why, 256),
			 -EPERM);
}

static void test_extract(void **state)
{
	char *d;

	(void)state;
	d = dise_patch_extract("Sure.\n```diff\n--- a/t\n+++ b/t\n```\nDone.");
	assert_string_equal(d, "--- a/t\n+++ b/t\n");
	free(d);
	d = dise_patch_extract("--- a/t\n");
	assert_string_equal(d, "--- a/t\n");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_applies),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_extract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
