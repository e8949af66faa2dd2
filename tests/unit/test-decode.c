/* SPDX-License-Identifier: MIT */
/* The record decoder: valid records pass whole, every kind of damage is refused with a reason. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "dise/ring.h"
#include "seeds.h"

static uint8_t buf[DISE_RECORD_MAX];

static void test_valid(void **state)
{
	struct dise_record rec;
	struct dise_module_view mv;
	uint32_t off = 0;
	size_t n;

	(void)state;
	n = seed_record(0, buf);
	assert_int_equal(dise_record_decode(buf, n, &rec, NULL), 0);
	assert_int_equal(rec.type, DISE_REC_START);
	assert_string_equal(rec.exe, "/usr/bin/prog");
	assert_string_equal(rec.execfn, "./prog");
	assert_string_equal(rec.cwd, "/tmp");
	assert_int_equal(rec.argv_count, 3);
	assert_string_equal(rec.argv + 5, "--flag");

	n = seed_record(1, buf);
	assert_int_equal(dise_record_decode(buf, n, &rec, NULL), 0);
	assert_string_equal(rec.path, "/bin/sh");

	n = seed_record(2, buf);
	assert_int_equal(dise_record_decode(buf, n, &rec, NULL), 0);
	assert_int_equal(rec.u.exit.status, 3);

	n = seed_record(3, buf);
	assert_int_equal(dise_record_decode(buf, n, &rec, NULL), 0);
	assert_int_equal(rec.nmodules, 2);
	assert_int_equal(rec.stack_len, 64);
	assert_int_equal(dise_record_next_module(&rec, &off, &mv), 0);
	assert_string_equal(mv.path, "/usr/lib/libfoo.so");
	assert_int_equal(dise_record_next_module(&rec, &off, &mv), 0);
	assert_int_equal(mv.base, 0x2000);
	assert_int_equal(dise_record_next_module(&rec, &off, &mv), -ENOENT);

	n = seed_record(4, buf);
	assert_int_equal(dise_record_decode(buf, n, &rec, NULL), 0);
	assert_int_equal(rec.type, DISE_REC_REAP);
	assert_int_equal(rec.u.reap.child_pid, 43);
	assert_int_equal(rec.u.reap.status, 11 | 0x80);
}

static void expect_bad(size_t n, const char *what)
{
	struct dise_record rec;
	const char *why = NULL;

	if (dise_record_decode(buf, n, &rec, &why) != -EBADMSG)
		fail_msg("accepted: %s", what);
	assert_non_null(why);
}

static void test_damage(void **state)
{
	size_t n;

	(void)state;
	/* every truncation of every seed is refused */
	for (unsigned k = 0; k < SEED_COUNT; k++) {
		n = seed_record(k, buf);
		for (size_t cut = 0; cut < n; cut++) {
			((struct dise_rec_hdr *)buf)->size = (uint32_t)cut;
			expect_bad(cut, "truncated");
		}
	}
	n = seed_record(0, buf);
	((struct dise_rec_hdr *)buf)->size = (uint32_t)n + 1;
	expect_bad(n, "size mismatch");

	n = seed_record(0, buf);
	((struct dise_rec_hdr *)buf)->type = 99;
	expect_bad(n, "unknown type");

	n = seed_record(0, buf);
	((struct dise_rec_hdr *)buf)->hdr_size = 8;
	expect_bad(n, "short header size");

	n = seed_record(0, buf); /* exe string without its NUL */
	buf[sizeof(struct dise_rec_start) + sizeof("/usr/bin/prog") - 1] = 'X';
	expect_bad(n, "unterminated string");

	n = seed_record(0, buf); /* a NUL inside a string */
	buf[sizeof(struct dise_rec_start) + 3] = '\0';
	expect_bad(n, "embedded NUL");

	n = seed_record(0, buf); /* argv count larger than the strings */
	((struct dise_rec_start *)buf)->argv_count = 4;
	expect_bad(n, "argv count");

	n = seed_record(0, buf);
	((struct dise_rec_start *)buf)->cwd_len = 60000;
	expect_bad(n, "huge length");

	n = seed_record(3, buf);
	((struct dise_rec_crash *)buf)->nmodules = 3;
	expect_bad(n, "module count");

	n = seed_record(3, buf);
	((struct dise_rec_crash *)buf)->signo = 0;
	expect_bad(n, "signal 0");

	n = seed_record(3, buf);
	((struct dise_rec_crash *)buf)->stack_len = 1u << 30;
	expect_bad(n, "stack length");

	n = seed_record(3, buf); /* module entry size pointing past the end */
	((struct dise_module *)(buf + sizeof(struct dise_rec_crash) + 64))->size = 0xfff8;
	expect_bad(n, "module size");

	n = seed_record(3, buf);
	((struct dise_module *)(buf + sizeof(struct dise_rec_crash) + 64))->path_len = 2;
	expect_bad(n, "module path not terminated");

	/* REAP: a child that ended, named by a pid that is not the reaper's */
	static const int32_t not_endings[] = { 0x137f /* stopped by SIGSTOP */, 0xffff /* continued */, 0x41 /* signal 65 */,
					       0x10100 /* exit status out of its byte */, 0x1080 /* exit with a core bit */ };
	for (unsigned k = 0; k < sizeof(not_endings) / sizeof(not_endings[0]); k++) {
		n = seed_record(4, buf);
		((struct dise_rec_reap *)buf)->status = not_endings[k];
		expect_bad(n, "reap status not an ending");
	}
	n = seed_record(4, buf);
	((struct dise_rec_reap *)buf)->child_pid = 0;
	expect_bad(n, "reap pid 0");
	n = seed_record(4, buf);
	((struct dise_rec_reap *)buf)->child_pid = 42; /* the reaper itself */
	expect_bad(n, "reap of itself");
	n = seed_record(4, buf);
	((struct dise_rec_reap *)buf)->child_pid = 0x80000000u;
	expect_bad(n, "reap pid out of range");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
