/* SPDX-License-Identifier: MIT */
/*
 * The collector's CPU per run, while runs arrive at a set rate: a running
 * dise-collectord (ingest, resolver, detectors, healer, route publication:
 * everything on, as a user runs it) over a store that starts with a history
 * (bench-history.h), fed the records a watched shell loop writes for each
 * child it spawns: the fork child's START, its EXEC, the new image's START,
 * its EXIT and the shell's REAP (5 records a run), with the real identities
 * of real executables (/bin/true, /usr/bin/expr, ...; one run in ten exits
 * 1 by default, a failure the detectors look at). The collector's CPU (utime + stime of
 * /proc/PID/stat, all its threads) from the first record to the moment
 * every run has its version, divided by the runs.
 *
 *   bench-collector-cpu [BUILD] [--rate R] [--seconds S] [--history N] [--fail-every F] [--schema V]
 *                       [--probe-every K] [--rule]
 *
 * --fail-every F: one run in F exits 1 (default 10; 0: none fails).
 * --schema V: the history made at schema version V (a collector built
 * before this one, to compare: it cannot open a newer database).
 *
 * --probe-every K: every K-th run is a build probe, as configure's are: a
 * new `conftest` in a build tree (new content each time), deleted and made
 * again for the next probe. The content store's growth (files, bytes) is
 * printed: what the probes cost it.
 *
 * --rule: a rule stored first, as every deployment has after its first
 * heal (an exit-status rule learned from a history tool's version, with
 * its invocation): the rules' checks run at each pass of the resolver.
 * It matches none of the runs fed, so no decision changes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-history.h"
#include "bench-util.h"
#include "dise/ring.h"
#include "record.h"

extern char **environ;

struct exe {
	const char *path;
	struct dise_file_id id;
};

static struct dise_file_id file_id(const char *path)
{
	struct dise_file_id id = { 0 };
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "bench-collector-cpu: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	id.dev = st.st_dev, id.ino = st.st_ino, id.size = (uint64_t)st.st_size;
	id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return id;
}

/* utime + stime of a process, all threads, in ns */
static uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
		return 0;
	return (ut + stime) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* The CPU (ns) of each thread of pid, by its name (comm), into names/ns (at most max); returns how many. */
static int thread_cpu(pid_t pid, char names[][32], uint64_t *ns, int max)
{
	char dir[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d)) && n < max) {
		char path[300], buf[1024], *p, *q;
		unsigned long long ut, stime;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.32s/stat", dir, de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!p || !(p = strchr(buf, '(')) || !(q = strrchr(buf, ')')) ||
		    sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
			continue;
		snprintf(names[n], 32, "%.*s", (int)(q - p - 1), p + 1);
		ns[n++] = (ut + stime) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
	}
	closedir(d);
	return n;
}

/* As the shim writes: each record committed, then the collector woken if it sleeps for it (an end that may be a strike: any). */
static void put(dise_ring *r, const void *rec, size_t len)
{
	struct dise_rec_hdr h;
	int32_t status = 0;

	memcpy(&h, rec, sizeof(h)); /* rec may be a byte buffer */
	if (h.type == DISE_REC_EXIT)
		memcpy(&status, (const char *)rec + offsetof(struct dise_rec_exit, status), sizeof(status));
	else if (h.type == DISE_REC_REAP)
		memcpy(&status, (const char *)rec + offsetof(struct dise_rec_reap, status), sizeof(status));
	if (dise_ring_put(r, rec, len) < 0) {
		fprintf(stderr, "bench-collector-cpu: the ring is full: the collector does not keep up\n");
		exit(1);
	}
	dise_ring_notify_record(r, dise_ring_urgent(h.type, status));
}

static void put_start(dise_ring *r, const struct dise_rec_who *who, uint32_t ppid, uint32_t flags, const struct exe *e,
		      char *const *argv)
{
	uint8_t b[2048];
	struct dise_rec_buf rb;
	struct dise_rec_start_in in = { 0 };
	struct timespec ts;
	int n;

	in.who = *who;
	clock_gettime(CLOCK_REALTIME, &ts);
	in.wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	in.ppid = ppid, in.uid = (uint32_t)getuid(), in.flags = flags;
	in.exe_id = in.script_id = e->id;
	in.execfn = e->path;
	in.cwd = "/tmp";
	in.argv.v = argv;
	dise_rec_buf_init(&rb, b, sizeof(b));
	n = dise_rec_start_write(&in, &rb.sink);
	if (n > 0)
		put(r, b, (size_t)n);
}

/* One child of the shell: fork child START, EXEC, START of the new image, EXIT, the shell's REAP. */
static void one_run(dise_ring *r, const struct dise_rec_who *shell, const struct exe *sh, const struct exe *e, uint32_t pid,
		    int status)
{
	char *shargv[] = { "sh", "loop.sh", NULL };
	char *argv[] = { (char *)e->path, "1", "+", "1", NULL };
	struct dise_rec_who fk = { now_ns(), pid, pid }, img;
	struct dise_rec_argv a = { argv, NULL, 0 };
	struct dise_rec_exit x;
	struct dise_rec_reap w;
	uint8_t b[2048];
	struct dise_rec_buf rb;
	int n;

	put_start(r, &fk, shell->pid, DISE_START_FORK, sh, shargv);
	dise_rec_buf_init(&rb, b, sizeof(b));
	if ((n = dise_rec_exec_write(&fk, DISE_EXEC_EXECVE, e->path, &a, &rb.sink)) > 0)
		put(r, b, (size_t)n);
	img = fk;
	img.run_start_ns = now_ns();
	put_start(r, &img, shell->pid, 0, e, argv);
	dise_rec_exit_init(&x, &img, status, DISE_EXIT_EXIT);
	x.user_ns = 300000, x.sys_ns = 200000, x.maxrss_kb = 1500;
	put(r, &x, sizeof(x));
	dise_rec_reap_init(&w, shell, pid, status << 8);
	put(r, &w, sizeof(w));
}

/* A new content at the probe's path: configure's conftest, compiled again for the next check. */
static struct exe new_probe(const char *path, const char *from, unsigned n)
{
	static char buf[1 << 16];
	struct exe e = { path, { 0 } };
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t k;

	unlink(path);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0) {
		fprintf(stderr, "bench-collector-cpu: cannot make %s\n", path);
		exit(1);
	}
	while ((k = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)k) != k)
			exit(1);
	if (write(out, &n, sizeof(n)) != (ssize_t)sizeof(n)) /* another content */
		exit(1);
	close(in);
	close(out);
	e.id = file_id(path);
	return e;
}

/* Files and bytes in dir (the content store), subdirectories included. */
static void dir_usage(const char *dir, unsigned long long *files, unsigned long long *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char p[1024];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			dir_usage(p, files, bytes);
		} else if (S_ISREG(st.st_mode)) {
			++*files;
			*bytes += (unsigned long long)st.st_size;
		}
	}
	if (d)
		closedir(d);
}

/* Runs still without a version (the resolver's work not done). */
static long unversioned(const char *home)
{
	char db[300];
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	long n = -1;

	snprintf(db, sizeof(db), "%s/dise.db", home);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM runs WHERE version_id IS NULL AND exe_ino IS NOT NULL", -1, &q,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return n;
}

/* --rule: a rule learned from the first history version (tool hist0), exit status 1 of argv ["x"] in /. */
static void store_rule(const char *home)
{
	static const char sql[] = "INSERT INTO rules(tool, source_version, description, exit_code, argv, cwd, reason, scope, "
				  "created_wall_ns) VALUES ('hist0', 1000000, 'bench: exits 1', 1, '[\"x\"]', '/', "
				  "'bench-collector-cpu --rule', 'descendants', 1)";
	char db[300];
	sqlite3 *h = NULL;

	snprintf(db, sizeof(db), "%s/dise.db", home);
	if (sqlite3_open(db, &h) != SQLITE_OK || sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench-collector-cpu: cannot store the rule: %s\n", h ? sqlite3_errmsg(h) : "no memory");
		exit(1);
	}
	sqlite3_close(h);
}

/* Waits until the collector's CPU stands still for 300 ms (its start, its first pass over the history). */
static void wait_idle(pid_t pid)
{
	uint64_t c = proc_cpu_ns(pid), t0 = now_ns();

	for (;;) {
		uint64_t c2;

		usleep(300000);
		c2 = proc_cpu_ns(pid);
		if (c2 == c || now_ns() - t0 > 60000000000ull)
			return;
		c = c2;
	}
}

int main(int argc, char **argv)
{
	const char *build = "build";
	long history = 100000, probe_every = 0, fail_every = 10, schema = DISE_SCHEMA_VERSION, rate = 1000, seconds = 10, runs, i;
	char dir[128], ring[256], home[256], tree[256], probe[300], cas[300], cmd[400];
	struct exe sh, tools[6], pr;
	static const char *const paths[] = { "/bin/true", "/usr/bin/expr", "/usr/bin/test", "/bin/sed", "/bin/cat",
					     "/usr/bin/basename" };
	struct dise_rec_who shell;
	unsigned long long files = 0, bytes = 0;
	uint64_t c0, c1, t0, t1, tlast, next;
	dise_ring r;
	pid_t collector;
	char tname0[8][32], tname1[8][32];
	uint64_t tcpu0[8], tcpu1[8];
	int nthreads0 = 0, nthreads1 = 0;
	int pos = 0, rule = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--history") && i + 1 < argc)
			history = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--schema") && i + 1 < argc)
			schema = atol(argv[++i]);
		else if (!strcmp(argv[i], "--fail-every") && i + 1 < argc)
			fail_every = atol(argv[++i]);
		else if (!strcmp(argv[i], "--probe-every") && i + 1 < argc)
			probe_every = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rule"))
			rule = 1;
		else if (pos++ == 0)
			build = argv[i];
	}
	if (rate < 1 || seconds < 1)
		return 2;
	runs = rate * seconds;
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-ccpu-%d", (int)getpid());
	snprintf(ring, sizeof(ring), "%s/ring", dir);
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(tree, sizeof(tree), "%s/sed-4.9", dir);
	snprintf(probe, sizeof(probe), "%s/conftest", tree);
	snprintf(cas, sizeof(cas), "%s/cas", home);
	mkdir(dir, 0700);
	mkdir(tree, 0700);
	setenv("DISE_RING", ring, 1);
	setenv("DISE_HOME", home, 1);
	sh.path = "/bin/sh", sh.id = file_id("/bin/sh");
	for (i = 0; i < 6; i++)
		tools[i].path = paths[i], tools[i].id = file_id(paths[i]);
	if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r) < 0)
		return 1;
	if (history > 0)
		make_history_at(home, history, (int)schema);
	else
		mkdir(home, 0700);
	if (rule && history > 0)
		store_rule(home);
	{
		char *cargv[] = { NULL, "--foreground", NULL };
		char path[300];

		snprintf(path, sizeof(path), "%s/bin/dise-collectord", build);
		cargv[0] = path;
		if (posix_spawn(&collector, path, NULL, NULL, cargv, environ) != 0)
			return 1;
	}
	wait_idle(collector);
	dir_usage(cas, &files, &bytes);
	printf("bench-collector-cpu: %ld runs/s for %ld s (%ld runs, 5 records each), history %ld runs, "
	       "one run in %ld fails\n",
	       rate, seconds, runs, history, fail_every);
	if (probe_every)
		printf("  every %ld-th run a new conftest\n", probe_every);
	if (rule && history > 0)
		printf("  a rule stored (exit status 1 of hist0's [\"x\"])\n");

	shell.pid = shell.tid = 3000000;
	shell.run_start_ns = now_ns();
	{
		char *shargv[] = { "sh", "loop.sh", NULL };

		put_start(&r, &shell, 1, 0, &sh, shargv);
	}
	nthreads0 = thread_cpu(collector, tname0, tcpu0, 8);
	c0 = proc_cpu_ns(collector);
	t0 = next = now_ns();
	for (i = 0; i < runs; i++) {
		const struct exe *e = &tools[i % 6];
		int status = fail_every > 0 && i % fail_every == fail_every / 2;

		if (probe_every && i % probe_every == 0) {
			pr = new_probe(probe, "/bin/true", (unsigned)i);
			e = &pr;
		}
		one_run(&r, &shell, &sh, e, (uint32_t)(3000001 + i), status);
		next += 1000000000ull / (uint64_t)rate;
		if (next > now_ns()) {
			struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
	{
		struct dise_rec_exit x;

		dise_rec_exit_init(&x, &shell, 0, DISE_EXIT_EXIT);
		put(&r, &x, sizeof(x));
	}
	tlast = now_ns();
	/* done: the ring drained and every run has its version */
	for (;;) {
		struct dise_ring_stats s = dise_ring_stats_of(&r);

		if (s.head == s.tail && unversioned(home) == 0)
			break;
		usleep(5000);
	}
	t1 = now_ns();
	c1 = proc_cpu_ns(collector);
	nthreads1 = thread_cpu(collector, tname1, tcpu1, 8);
	kill(collector, SIGTERM);
	waitpid(collector, NULL, 0);
	printf("  fed in %.2f s, all stored and resolved %.0f ms after the last record\n", (double)(tlast - t0) / 1e9,
	       (double)(t1 - tlast) / 1e6);
	{
		unsigned long long f2 = 0, b2 = 0;

		dir_usage(cas, &f2, &b2);
		printf("  collector CPU: %.1f us per run (%.3f s over %ld runs, %.1f%% of a core)\n",
		       (double)(c1 - c0) / 1e3 / (double)runs, (double)(c1 - c0) / 1e9, runs,
		       100.0 * (double)(c1 - c0) / (double)(t1 - t0));
		printf("  content store: +%llu files, +%llu bytes\n", f2 - files, b2 - bytes);
		for (int t = 0; t < nthreads1; t++) { /* by thread: ingest (the main one), resolver and detectors, ... */
			uint64_t before = 0;

			for (int u = 0; u < nthreads0; u++)
				if (!strcmp(tname0[u], tname1[t]))
					before = tcpu0[u];
			printf("    thread %-16s %.1f us per run\n", tname1[t], (double)(tcpu1[t] - before) / 1e3 / (double)runs);
		}
	}
	dise_ring_unmap(&r);
	if (getenv("DISE_BENCH_KEEP")) {
		printf("  kept %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
