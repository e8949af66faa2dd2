/* SPDX-License-Identifier: MIT */
/* Helpers for end-to-end tests: run a program, capture everything, read the ring. */
#ifndef DISE_TEST_HARNESS_H
#define DISE_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "decode.h"
#include "dise/ring.h"

struct run_result {
	int status; /* as from waitpid */
	pid_t pid;
	struct rusage ru; /* what the process used, from wait4 */
	char *out, *err;
	size_t out_len, err_len;
};

/*
 * Runs argv[0] (a path) with the test's environment minus LD_PRELOAD and
 * DISE_*, plus the "K=V" entries of env (NULL-terminated, may be NULL), in
 * cwd (NULL: ours), with core dumps off. Returns 0 or -errno.
 */
int run_cmd(char *const argv[], const char *const env[], const char *cwd, struct run_result *ret);
void run_result_free(struct run_result *r);

/* Runs argv without and with the shim (writing to ring) and asserts identical status and bytes. */
void assert_transparent(char *const argv[], const char *ring, const char *cwd, struct run_result *ret_with);

struct rec_list {
	struct dise_record *recs;
	void **bufs;
	uint64_t *ids;
	size_t n;
};
/* Reads and decodes every record of the ring at path (consuming), asserting none is malformed. */
void read_ring(const char *path, struct rec_list *ret);
void rec_list_free(struct rec_list *l);
/* A new one-shard ring at path, mapped into *ret, with a hole (a slot reserved by a producer killed before its commit). */
void ring_with_hole(const char *path, dise_ring *ret);
/* Records of one pid, of one type (0: any type). */
size_t count_recs(const struct rec_list *l, pid_t pid, unsigned type);
const struct dise_record *find_rec(const struct rec_list *l, pid_t pid, unsigned type);

/* Absolute paths of the build: each call returns one of a few rotating static buffers, so use them at once. */
const char *shim_path(void);
const char *prog_path(const char *name); /* a test program built into build/tests/progs */
const char *bin_path(const char *name);  /* build/bin/<name> */

/* A fresh private directory for this test, and a ring path inside it. */
char *test_dir(void);
void test_dir_remove(const char *dir); /* rm -rf, for teardown */
char *test_ring(const char *dir);

/*
 * Waiting on a condition, never for a fixed time. A test waits for what it
 * needs with wait_for(cond, WAIT_MS): cond is evaluated until true or until
 * the deadline passed (then once more); the result says which. The deadline
 * only matters when something is broken: a loaded machine may be slow.
 */
#define WAIT_MS 30000
struct deadline {
	uint64_t end_ns;
	unsigned pause_us;
};
struct deadline deadline_in(unsigned ms);
/* 0 once the deadline passed; else pauses a little (1 ms, growing to 20 ms) and returns 1. */
int deadline_wait(struct deadline *d);
#define wait_for(cond, ms)                                                                                     \
	__extension__({                                                                                        \
		struct deadline d_ = deadline_in(ms);                                                          \
		int ok_;                                                                                       \
		while (!(ok_ = !!(cond)) && deadline_wait(&d_))                                                \
			;                                                                                      \
		ok_ ? ok_ : !!(cond);                                                                          \
	})

/*
 * Helper processes of a test (servers, collectors, targets) that teardown
 * must end even when an assertion failed: fixture_teardown SIGKILLs and
 * reaps each that is still a live child of ours.
 */
void track_child(pid_t pid);

/* A private directory per test, with a ring and a DISE_HOME inside it. */
struct fixture {
	char *dir, *ring, *home;
	char *env_ring, *env_home; /* "DISE_RING=...", "DISE_HOME=..." */
};
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* Runs a dise binary (argv[0] a path) with f's ring and home. */
void dise_cmd(struct fixture *f, char *const argv[], struct run_result *r);
/*
 * Starts dise-collectord ARG (e.g. "--foreground") with f's ring and home,
 * the "K=V" entries of env (may be NULL) and stderr into errlog (NULL:
 * ours), and waits until it is ready: READY=1 on a $NOTIFY_SOCKET of ours.
 * Fails the test if it ends before. Returns its pid, tracked for teardown.
 */
pid_t collector_start(struct fixture *f, const char *arg, const char *const env[], const char *errlog);
/* `dise collector stop` with f's home, asserted to succeed: returns once the collector finished its batch. */
void collector_stop(struct fixture *f);
/* Opens a database read-write with a busy timeout (a collector may hold the lock a moment); asserts it opened. */
struct sqlite3 *db_open(const char *path);
/* The first column of sql's first row over db, ?1 bound to arg (asserted to prepare): -1 when there is no row, 0 when NULL. */
int64_t db_int(struct sqlite3 *db, const char *sql, int64_t arg);
/* dise-collectord --once with f's ring and home; asserts it succeeded. */
void collect_once(struct fixture *f, struct run_result *r);
/* Runs a dise command that prints JSON; asserts success, returns the parsed output (json_decref it). */
struct json_t *dise_json(struct fixture *f, char *const argv[]);
/* The first column of the first row of sql over f's dise.db (asserted to open); -1 when no row. */
int64_t db_count(struct fixture *f, const char *sql);
/* Prints the rows of sql over f's database (columns " | "-separated): what a failing assertion saw. */
void db_print(struct fixture *f, const char *sql);
/* The same, -1 on any error (no database yet, locked). */
int64_t db_try_count(struct fixture *f, const char *sql);

/* Does the file at path (say, a collector's stderr) contain needle? */
int file_has(const char *path, const char *needle);
/* Reads a whole small file (up to 64 KiB; NULL if it is not there): free it. */
char *slurp(const char *path);
/* A START (of /usr/bin/loadgen, no argv) and an EXIT record of pid into b (512 bytes): their sizes. */
size_t make_start(uint8_t *b, uint32_t pid, uint64_t start);
size_t make_exit(uint8_t *b, uint32_t pid, uint64_t start, int status);

/* [lo, hi) of a function in an ELF file, from nm. Returns 0 or -1. */
int func_range(const char *file, const char *func, unsigned long *lo, unsigned long *hi);

#endif
