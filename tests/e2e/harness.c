/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "dise/ring.h"
#include "harness.h"

extern char **environ;

#ifndef DISE_BUILD_DIR
#error "DISE_BUILD_DIR must be defined"
#endif

const char *shim_path(void)
{
	return DISE_BUILD_DIR "/lib/libdise_shim.so";
}

const char *prog_path(const char *name)
{
	static char buf[8][PATH_MAX];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, PATH_MAX, "%s/tests/progs/%s", DISE_BUILD_DIR, name);
	return b;
}

const char *bin_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, PATH_MAX, "%s/bin/%s", DISE_BUILD_DIR, name);
	return b;
}

char *test_dir(void)
{
	char tmpl[] = "/tmp/dise-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

void test_dir_remove(const char *dir)
{
	char *cmd;

	if (asprintf(&cmd, "rm -rf '%s'", dir) > 0) {
		(void)!system(cmd);
		free(cmd);
	}
}

char *test_ring(const char *dir)
{
	char *p;

	assert_true(asprintf(&p, "%s/ring", dir) > 0);
	return p;
}

static void drain(int out, int err, struct run_result *r)
{
	struct pollfd pf[2] = { { out, POLLIN, 0 }, { err, POLLIN, 0 } };
	size_t cap[2] = { 0, 0 };
	char **buf[2] = { &r->out, &r->err };
	size_t *len[2] = { &r->out_len, &r->err_len };
	int open = 2, i;

	while (open > 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			char tmp[65536];
			ssize_t n;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pf[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open--;
				continue;
			}
			if (*len[i] + (size_t)n + 1 > cap[i]) {
				cap[i] = (*len[i] + (size_t)n + 1) * 2;
				*buf[i] = realloc(*buf[i], cap[i]);
			}
			memcpy(*buf[i] + *len[i], tmp, (size_t)n);
			*len[i] += (size_t)n;
			(*buf[i])[*len[i]] = '\0';
		}
	}
}

int run_cmd(char *const argv[], const char *const env[], const char *cwd, struct run_result *r)
{
	int po[2], pe[2];
	size_t n = 0, i;
	char **envp;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	for (i = 0; environ[i]; i++)
		n++;
	for (i = 0; env && env[i]; i++)
		n++;
	envp = calloc(n + 1, sizeof(char *));
	n = 0;
	for (i = 0; environ[i]; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_", 5))
			envp[n++] = environ[i];
	for (i = 0; env && env[i]; i++)
		envp[n++] = (char *)env[i];
	envp[n] = NULL;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };

		setrlimit(RLIMIT_CORE, &rl);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	close(po[1]);
	close(pe[1]);
	drain(po[0], pe[0], r);
	r->pid = pid;
	while (wait4(pid, &r->status, 0, &r->ru) < 0 && errno == EINTR)
		;
	return 0;
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static char *describe(const struct run_result *r)
{
	char *s;

	if (asprintf(&s, "status %#x, %zu bytes out, %zu bytes err", r->status, r->out_len, r->err_len) < 0)
		return NULL;
	return s;
}

void assert_transparent(char *const argv[], const char *ring, const char *cwd, struct run_result *ret_with)
{
	struct run_result a, b;
	char *pre, *rv;
	const char *env[3];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	assert_true(asprintf(&rv, "DISE_RING=%s", ring) > 0);
	env[0] = pre;
	env[1] = rv;
	env[2] = NULL;
	assert_int_equal(run_cmd(argv, NULL, cwd, &a), 0);
	assert_int_equal(run_cmd(argv, env, cwd, &b), 0);
	if (a.status != b.status || a.out_len != b.out_len || a.err_len != b.err_len ||
	    memcmp(a.out, b.out, a.out_len) || memcmp(a.err, b.err, a.err_len)) {
		char *da = describe(&a), *db = describe(&b);

		print_error("%s: differs with the shim\n  without: %s\n  with:    %s\n--- without stdout\n%s--- with "
			    "stdout\n%s--- without stderr\n%s--- with stderr\n%s",
			    argv[0], da, db, a.out, b.out, a.err, b.err);
		free(da);
		free(db);
		fail();
	}
	run_result_free(&a);
	free(pre);
	free(rv);
	if (ret_with)
		*ret_with = b;
	else
		run_result_free(&b);
}

/*
 * Nothing ready, but slots reserved and not committed (pending): a producer
 * in flight, or one killed while it wrote (a child SIGKILLed at once by the
 * test program). dise_ring_read stops at such a hole until its torn deadline
 * (50 ms here); the collector waits and goes on past it, and so does
 * read_ring, until d (a producer that never stops writing: what was read).
 * Returns 1 to read again, 0 when done.
 */
static uint64_t mono_ns(void);

static int ring_hole_wait(dise_ring_reader *rd, struct deadline *d)
{
	struct dise_ring_stats s;

	assert_int_equal(dise_ring_release(rd), 0); /* then pending counts only what was not read */
	dise_ring_reader_stats(rd, &s);
	if (s.pending == 0 || mono_ns() >= d->end_ns)
		return 0;
	assert_int_equal(dise_ring_reader_wait(rd, 20), 0);
	return 1;
}

void read_ring(const char *path, struct rec_list *l)
{
	dise_ring_reader *rd;
	struct deadline d = deadline_in(5000);
	size_t cap = 0;
	int r;

	memset(l, 0, sizeof(*l));
	r = dise_ring_reader_new(path, 0, 50, &rd);
	if (r == -ENOENT)
		return;
	assert_int_equal(r, 0);
	for (;;) {
		void *buf = malloc(DISE_RECORD_MAX);
		size_t len;
		uint64_t id;
		const char *why = NULL;

		r = dise_ring_read(rd, buf, DISE_RECORD_MAX, &len, &id);
		if (r <= 0) {
			free(buf);
			assert_int_equal(r, 0);
			if (!ring_hole_wait(rd, &d))
				break;
			continue;
		}
		if (l->n == cap) {
			cap = cap ? cap * 2 : 64;
			l->recs = realloc(l->recs, cap * sizeof(*l->recs));
			l->bufs = realloc(l->bufs, cap * sizeof(*l->bufs));
			l->ids = realloc(l->ids, cap * sizeof(*l->ids));
		}
		if (dise_record_decode(buf, len, &l->recs[l->n], &why) != 0) {
			print_error("record %llu malformed: %s\n", (unsigned long long)id, why);
			fail();
		}
		l->bufs[l->n] = buf;
		l->ids[l->n] = id;
		l->n++;
	}
	assert_int_equal(dise_ring_release(rd), 0);
	dise_ring_reader_free(rd);
}

/*
 * Maps a new ring of one shard at path into *ret, whose first slot a
 * producer killed between reserve and commit left reserved for good (a
 * hole: what a SIGKILLed child writing its START leaves).
 */
void ring_with_hole(const char *path, dise_ring *ret)
{
	pid_t pid;
	int st;

	assert_int_equal(dise_ring_map(path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 1, ret), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dise_ring_resv v;

		if (dise_ring_reserve(ret, 64, &v) == 0)
			raise(SIGKILL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

void rec_list_free(struct rec_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->bufs[i]);
	free(l->recs);
	free(l->bufs);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

size_t count_recs(const struct rec_list *l, pid_t pid, unsigned type)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		if ((pid <= 0 || l->recs[i].hdr.pid == (uint32_t)pid) && (!type || l->recs[i].type == type))
			n++;
	return n;
}

const struct dise_record *find_rec(const struct rec_list *l, pid_t pid, unsigned type)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if ((pid <= 0 || l->recs[i].hdr.pid == (uint32_t)pid) && (!type || l->recs[i].type == type))
			return &l->recs[i];
	return NULL;
}

int func_range(const char *file, const char *func, unsigned long *lo, unsigned long *hi)
{
	char cmd[PATH_MAX + 64], line[512];
	FILE *f;
	int found = -1;

	snprintf(cmd, sizeof(cmd), "nm -S --defined-only '%s'", file);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, s;
		char t, name[256];

		if (sscanf(line, "%lx %lx %c %255s", &a, &s, &t, name) == 4 && !strcmp(name, func)) {
			*lo = a;
			*hi = a + s;
			found = 0;
		}
	}
	pclose(f);
	return found;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct deadline deadline_in(unsigned ms)
{
	struct deadline d = { mono_ns() + (uint64_t)ms * 1000000u, 1000 };

	return d;
}

/* The one place the tests pause: between two looks at a condition. */
int deadline_wait(struct deadline *d)
{
	struct timespec ts = { 0, (long)d->pause_us * 1000 };

	if (mono_ns() >= d->end_ns)
		return 0;
	nanosleep(&ts, NULL);
	if (d->pause_us < 20000)
		d->pause_us *= 2;
	return 1;
}

static pid_t children[256];
static size_t nchildren;

/* Is pid a child of ours not reaped yet? (Looks without reaping.) */
static int still_child(pid_t pid)
{
	siginfo_t si;

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

void track_child(pid_t pid)
{
	size_t i, n = 0;

	/* forget those the test reaped already (no child of ours any more) */
	for (i = 0; i < nchildren; i++)
		if (children[i] != pid && still_child(children[i]))
			children[n++] = children[i];
	nchildren = n;
	assert_true(nchildren < sizeof(children) / sizeof(children[0]));
	children[nchildren++] = pid;
}

/* Ends the tracked children still alive; one the test reaped already is no child of ours any more: left alone. */
static void reap_children(void)
{
	size_t i;

	for (i = 0; i < nchildren; i++) {
		int st;

		if (waitpid(children[i], &st, WNOHANG) == 0) { /* still running, and ours: its pid cannot be reused */
			kill(children[i], SIGKILL);
			while (waitpid(children[i], &st, 0) < 0 && errno == EINTR)
				;
		}
	}
	nchildren = 0;
}

int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = test_dir();
	f->ring = test_ring(f->dir);
	assert_true(asprintf(&f->home, "%s/home", f->dir) > 0);
	assert_true(asprintf(&f->env_ring, "DISE_RING=%s", f->ring) > 0);
	assert_true(asprintf(&f->env_home, "DISE_HOME=%s", f->home) > 0);
	*state = f;
	return 0;
}

/*
 * A collector a test left running (a failed assertion skips its own stop, or
 * `dise run` started a daemon): SIGKILL it, so that no test leaves a process
 * behind holding ctest's output pipe or a deleted directory.
 */
static int lock_free(int fd)
{
	char buf[32] = "";
	ssize_t n;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		if (atoi(buf) > 1)
			kill(atoi(buf), SIGKILL);
	}
	return 0;
}

static void stop_collector(const char *home)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/collector.lock", home);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	/* the lock is free once it died; a collector still starting writes its pid when ready */
	if (!wait_for(lock_free(fd), WAIT_MS))
		print_error("teardown: the collector of %s does not go away\n", home);
	close(fd);
}

int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	reap_children();
	stop_collector(f->home);
	test_dir_remove(f->dir);
	free(f->dir);
	free(f->ring);
	free(f->home);
	free(f->env_ring);
	free(f->env_home);
	free(f);
	return 0;
}

/* Runs a dise binary with this fixture's ring and home. */
void dise_cmd(struct fixture *f, char *const argv[], struct run_result *r)
{
	const char *env[] = { f->env_ring, f->env_home, NULL };

	assert_int_equal(run_cmd(argv, env, NULL, r), 0);
}

pid_t collector_start(struct fixture *f, const char *arg, const char *const env[], const char *errlog)
{
	static unsigned seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[96], buf[256];
	struct deadline d = deadline_in(WAIT_MS);
	int sock, ready = 0, st;
	pid_t pid;

	/* an abstract socket: nothing to clean up, and the collector's notify_ready() covers '@' */
	snprintf(name, sizeof(name), "@dise-test-%d-%u", (int)getpid(), seq++);
	memcpy(sa.sun_path, name, strlen(name));
	sa.sun_path[0] = '\0';
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name))), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)bin_path("dise-collectord"), (char *)arg, NULL };

		if (errlog) {
			int fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
		}
		for (; env && *env; env++)
			putenv((char *)*env);
		setenv("NOTIFY_SOCKET", name, 1);
		setenv("DISE_RING", f->ring, 1);
		setenv("DISE_HOME", f->home, 1);
		unsetenv("LD_PRELOAD");
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(pid);
	while (!ready) {
		struct pollfd pf = { sock, POLLIN, 0 };
		ssize_t n;

		if (waitpid(pid, &st, WNOHANG) == pid)
			fail_msg("dise-collectord %s ended before it was ready (status %#x)", arg, st);
		if (poll(&pf, 1, 20) > 0 && (n = recv(sock, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			ready = strstr(buf, "READY=1") != NULL;
		}
		if (!ready && !deadline_wait(&d))
			fail_msg("dise-collectord %s was not ready within %d ms", arg, WAIT_MS);
	}
	close(sock);
	return pid;
}

void collector_stop(struct fixture *f)
{
	char *stop[] = { (char *)bin_path("dise"), "collector", "stop", NULL };
	struct run_result r;

	dise_cmd(f, stop, &r);
	if (r.status != 0)
		print_error("dise collector stop: %s%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

int64_t db_int(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *q;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, arg);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

sqlite3 *db_open(const char *path)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, WAIT_MS);
	return h;
}

void collect_once(struct fixture *f, struct run_result *r)
{
	char *argv[] = { (char *)bin_path("dise-collectord"), "--once", NULL };

	dise_cmd(f, argv, r);
	if (r->status != 0)
		print_error("dise-collectord: %s\n", r->err);
	assert_int_equal(r->status, 0);
}

/* Runs a dise command that prints JSON; returns the parsed output. */
json_t *dise_json(struct fixture *f, char *const argv[])
{
	struct run_result r;
	json_error_t err;
	json_t *j;

	dise_cmd(f, argv, &r);
	if (r.status != 0)
		print_error("%s %s: %s\n", argv[1], argv[2] ? argv[2] : "", r.err);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &err);
	assert_non_null(j);
	run_result_free(&r);
	return j;
}

/* The first column of sql's first row over f's dise.db; strict: assert that it opens and prepares. */
static int64_t db_value(struct fixture *f, const char *sql, int strict)
{
	char *db;
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	int64_t v = -1;
	int ok;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	ok = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	     sqlite3_busy_timeout(h, strict ? WAIT_MS : 100) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK;
	if (strict && !ok)
		print_error("%s: %s\n", sql, h ? sqlite3_errmsg(h) : "cannot open");
	if (ok) {
		int rc = sqlite3_step(q);

		if (rc == SQLITE_ROW)
			v = sqlite3_column_int64(q, 0);
		else if (rc != SQLITE_DONE && strict) {
			print_error("%s: %s\n", sql, sqlite3_errmsg(h));
			ok = 0;
		}
	}
	sqlite3_finalize(q);
	sqlite3_close(h);
	free(db);
	if (strict)
		assert_true(ok);
	return v;
}

int64_t db_try_count(struct fixture *f, const char *sql)
{
	return db_value(f, sql, 0);
}

int64_t db_count(struct fixture *f, const char *sql)
{
	return db_value(f, sql, 1);
}

void db_print(struct fixture *f, const char *sql)
{
	char *db;
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK && sqlite3_busy_timeout(h, WAIT_MS) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK)
		while (sqlite3_step(q) == SQLITE_ROW)
			for (int i = 0; i < sqlite3_column_count(q); i++)
				print_message("%s%s", (const char *)sqlite3_column_text(q, i) ? (const char *)sqlite3_column_text(q, i) : "NULL",
					      i + 1 < sqlite3_column_count(q) ? " | " : "\n");
	sqlite3_finalize(q);
	sqlite3_close(h);
	free(db);
}

/* Does the file at path (say, a collector's stderr) contain needle? */
int file_has(const char *path, const char *needle)
{
	char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

size_t make_start(uint8_t *b, uint32_t pid, uint64_t start)
{
	struct dise_rec_start s;
	static const char fn[] = "/usr/bin/loadgen";

	memset(&s, 0, sizeof(s));
	s.h.size = sizeof(s) + sizeof(fn);
	s.h.type = DISE_REC_START;
	s.h.hdr_size = sizeof(s.h);
	s.h.mono_ns = start;
	s.h.run_start_ns = start;
	s.h.pid = s.h.tid = pid;
	s.execfn_len = sizeof(fn);
	s.argc = 0;
	memcpy(b, &s, sizeof(s));
	memcpy(b + sizeof(s), fn, sizeof(fn));
	return s.h.size;
}

size_t make_exit(uint8_t *b, uint32_t pid, uint64_t start, int status)
{
	struct dise_rec_exit e;

	memset(&e, 0, sizeof(e));
	e.h.size = sizeof(e);
	e.h.type = DISE_REC_EXIT;
	e.h.hdr_size = sizeof(e.h);
	e.h.mono_ns = start + 1000;
	e.h.run_start_ns = start;
	e.h.pid = e.h.tid = pid;
	e.status = status;
	e.how = DISE_EXIT_EXIT;
	memcpy(b, &e, sizeof(e));
	return sizeof(e);
}

/* Reads a whole small file (NULL if it is not there). */
char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s = calloc(1, 65536);
	size_t n;

	if (!fp || !s) {
		if (fp)
			fclose(fp);
		free(s);
		return NULL;
	}
	n = fread(s, 1, 65535, fp);
	s[n] = '\0';
	fclose(fp);
	return s;
}
