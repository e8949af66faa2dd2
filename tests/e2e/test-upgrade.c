/* SPDX-License-Identifier: MIT */
/*
 * An upgrade leaves the older dise's ring at the path: a file of another
 * layout, which every mapper of this version refuses (the shim records
 * nothing, the collector could not start: "Protocol error", found on this
 * project's machine with a layout-4 ring). The collector moves an older
 * layout aside once its own consumer is gone, and records again; it never
 * moves a ring an older collector still consumes, nor a newer dise's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "dise/ring.h"
#include "harness.h"
#include "route-util.h"

/* A ring file of layout `layout` at f's ring path: a header the way every layout began, 8 MiB of slots. */
static void old_ring(struct fixture *f, uint32_t layout, struct stat *st)
{
	struct dise_ring_header h;
	int fd;

	memset(&h, 0, sizeof(h));
	h.magic = DISE_RING_MAGIC;
	h.layout_version = layout;
	h.header_size = DISE_RING_HEADER_SIZE;
	h.slot_size = DISE_SLOT_SIZE;
	h.owner_uid = (uint32_t)geteuid();
	h.nshards = 1;
	h.shard_slots = 65536;
	fd = open(f->ring, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(ftruncate(fd, (off_t)dise_ring_file_size(1, 65536)), 0);
	assert_int_equal(fstat(fd, st), 0);
	close(fd);
}

static char *aside(struct fixture *f, uint32_t layout)
{
	char *p;

	assert_true(asprintf(&p, "%s.layout%u", f->ring, layout) > 0);
	return p;
}

/* The collector's one run with f's ring and home: its result, whatever its status. */
static void collector_once(struct fixture *f, struct run_result *r)
{
	char *argv[] = { (char *)bin_path("dise-collectord"), "--once", NULL };

	dise_cmd(f, argv, r);
}

static void test_older_moved_aside(void **state)
{
	struct fixture *f = *state;
	uint32_t older = DISE_RING_LAYOUT_VERSION - 1;
	char *argv[] = { "/bin/true", NULL }, *moved = aside(f, older);
	struct run_result r;
	struct stat before, now;
	dise_ring ring;

	old_ring(f, older, &before);
	/* the shim of this version refuses it: the program runs untouched, nothing recorded */
	watched(f, argv, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	run_result_free(&r);
	assert_int_equal(dise_ring_map(f->ring, 0, 0, 0, &ring), -EPROTO);

	collector_once(f, &r);
	if (r.status != 0)
		print_error("dise-collectord: %s\n", r.err);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "had layout"));
	assert_non_null(strstr(r.err, moved));
	run_result_free(&r);
	/* the older file kept, moved; a ring of this layout in its place */
	assert_int_equal(stat(moved, &now), 0);
	assert_true(now.st_ino == before.st_ino && now.st_dev == before.st_dev);
	assert_int_equal(dise_ring_map(f->ring, 0, 0, 0, &ring), 0);
	dise_ring_unmap(&ring);

	/* and runs are recorded again */
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE path = '/usr/bin/true' OR path = '/bin/true'"), 1);
	free(moved);
}

/* An older collector still consumes it (it holds the consumer's lock): refused, the file left where it is. */
static void test_older_still_consumed(void **state)
{
	struct fixture *f = *state;
	uint32_t older = DISE_RING_LAYOUT_VERSION - 1;
	char *moved = aside(f, older);
	struct run_result r;
	struct stat before, now;
	int fd;

	old_ring(f, older, &before);
	fd = open(f->ring, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	collector_once(f, &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "still consumes it"));
	assert_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
	run_result_free(&r);
	assert_int_equal(stat(f->ring, &now), 0);
	assert_true(now.st_ino == before.st_ino);
	assert_int_equal(access(moved, F_OK), -1);

	/* once that collector is gone, this one takes over */
	close(fd);
	collector_once(f, &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	assert_int_equal(access(moved, F_OK), 0);
	free(moved);
}

/* A newer dise's ring is never moved: a newer collector may consume it. */
static void test_newer_refused(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	struct stat before, now;

	old_ring(f, DISE_RING_LAYOUT_VERSION + 1, &before);
	collector_once(f, &r);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "a newer dise's"));
	run_result_free(&r);
	assert_int_equal(stat(f->ring, &now), 0);
	assert_true(now.st_ino == before.st_ino);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_older_moved_aside, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_older_still_consumed, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
