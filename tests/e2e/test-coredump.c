/* SPDX-License-Identifier: MIT */
/*
 * dise-coredump (issue 12), fed real cores the way the kernel feeds them:
 * the core on stdin, the kernel's expansions as arguments.
 *
 * The cores are made by the kernel itself: a child with RLIMIT_CORE
 * unlimited crashes in a private directory while kernel.core_pattern is
 * "core" (a file in its cwd). When the pattern is something else, the test
 * (root, holding the core_pattern resource lock) sets "core" for its
 * duration and puts the old one back in its teardown, also when a test
 * failed. Nothing here changes the pattern to a pipe: that is
 * test-coredump-install (`--install`), which ctest runs alone (RUN_SERIAL):
 * it installs dise-coredump for real, crashes programs, and uninstalls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include <cmocka.h>

#define PATTERN "/proc/sys/kernel/core_pattern"
#define PIPE_LIMIT "/proc/sys/kernel/core_pipe_limit"

static char saved_pattern[256], saved_limit[32];
static int pattern_changed;

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_line(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f)
		return -1;
	r = fputs(v, f) < 0;
	return (fclose(f) != 0 || r) ? -1 : 0;
}

static void restore_pattern(void)
{
	if (pattern_changed) {
		write_line(PATTERN, saved_pattern);
		write_line(PIPE_LIMIT, saved_limit);
		pattern_changed = 0;
	}
}

/* Cores as files named "core" in the crashing process's cwd (see the top). */
static int cores_setup(void **state)
{
	(void)state;
	if (read_line(PATTERN, saved_pattern, sizeof(saved_pattern)) < 0 ||
	    read_line(PIPE_LIMIT, saved_limit, sizeof(saved_limit)) < 0)
		return 0;
	if (strcmp(saved_pattern, "core")) {
		if (write_line(PATTERN, "core") < 0)
			return 0; /* the tests skip: no way to make real cores */
		pattern_changed = 1;
	}
	atexit(restore_pattern);
	return 0;
}

static int cores_teardown(void **state)
{
	(void)state;
	restore_pattern();
	return 0;
}

static void need_cores(void)
{
	char p[256];

	if (read_line(PATTERN, p, sizeof(p)) < 0 || strcmp(p, "core")) {
		print_message("kernel.core_pattern is not 'core' and cannot be set (not root?): no real cores to feed\n");
		skip();
	}
}

/*
 * Runs argv in dir with RLIMIT_CORE unlimited and env ("K=V", NULL-ended,
 * may be NULL) on a clean environment; asserts it dumped core. Returns the
 * core's path (malloc'ed), its pid in *ret_pid.
 */
static char *make_core(const char *dir, char *const argv[], const char *const env[], pid_t *ret_pid)
{
	char path[4096];
	struct stat st;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
		size_t i;

		int null = open("/dev/null", O_WRONLY);

		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) /* a Go panic's pages of goroutines */
			_exit(125);
		clearenv();
		setenv("PATH", "/usr/bin:/bin", 1);
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (chdir(dir) < 0 || setrlimit(RLIMIT_CORE, &inf) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(WCOREDUMP(status));
	snprintf(path, sizeof(path), "%s/core", dir);
	if (stat(path, &st) < 0) /* kernel.core_uses_pid */
		snprintf(path, sizeof(path), "%s/core.%d", dir, (int)pid);
	assert_int_equal(stat(path, &st), 0);
	*ret_pid = pid;
	return strdup(path);
}

/* The kernel's expansions for a dump of pid (uid 0 unless uid says), pid = tid. */
struct dump {
	pid_t pid;
	int sig;
	const char *exe;   /* its executable's path */
	const char *limit; /* %c, RLIMIT_CORE ("" : unlimited) */
	const char *uid;   /* %u and %g ("" : 0) */
	const char *t;	   /* %t ("" : now) */
};

/* Feeds core to dise-coredump as the kernel would, with f's ring and home and the state file state. */
static void feed(struct fixture *f, const char *core, const struct dump *d, const char *state, struct run_result *r)
{
	char cmd[16384], E[4096], comm[16], *q;
	const char *base = strrchr(d->exe, '/') ? strrchr(d->exe, '/') + 1 : d->exe;
	const char *uid = d->uid && d->uid[0] ? d->uid : "0";
	char env_state[4200];
	const char *env[] = {f->env_ring, f->env_home, env_state, NULL};
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	char now[32];

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (access(f->ring, F_OK) < 0) { /* the handler writes only into a ring there is: the collector makes it */
		collect_once(f, r);
		run_result_free(r);
	}
	snprintf(E, sizeof(E), "%s", d->exe);
	for (q = E; *q; q++)
		if (*q == '/')
			*q = '!';
	snprintf(comm, sizeof(comm), "%s", base);
	snprintf(env_state, sizeof(env_state), "DISE_CORE_STATE=%s", state);
	snprintf(cmd, sizeof(cmd), "exec '%s' %d %d %d %d %s %s %s %s 1 %d host 0 '%s' '%s' '%s' < '%s'",
		 bin_path("dise-coredump"), (int)d->pid, (int)d->pid, (int)d->pid, d->sig,
		 d->t && d->t[0] ? d->t : now, uid, uid,
		 d->limit && d->limit[0] ? d->limit : "18446744073709551615", (int)d->pid, comm, E, E, core);
	assert_int_equal(run_cmd(argv, env, NULL, r), 0);
	assert_true(WIFEXITED(r->status));
	assert_int_equal(WEXITSTATUS(r->status), 0);
}

/* The state file install would leave, naming previous as the pattern replaced. */
static char *write_state(const char *dir, const char *previous)
{
	char *path = NULL;
	FILE *out;

	assert_true(asprintf(&path, "%s/state", dir) > 0);
	assert_non_null(out = fopen(path, "w"));
	fprintf(out, "previous %s\nprevious_pipe_limit 0\ninstalled |dise-coredump\n", previous);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(path, 0644), 0);
	return path;
}

static int same_file_prefix(const char *a, const char *b, off_t n)
{
	char cmd[8800];

	snprintf(cmd, sizeof(cmd), "cmp -s -n %lld '%s' '%s'", (long long)n, a, b);
	return system(cmd) == 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *scratch(struct fixture *f, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
	return p;
}

/* A static binary's crash, no shim, no dise run: a CRASH run with its frames named. */
static void test_static_crash(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core;
	char *argv[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	struct dump d = {0};

	need_cores();
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("static-crasher");
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "recorded in"));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM runs WHERE outcome = 'crash' AND signal = 11 "
				     "AND path LIKE '%/static-crasher'"), 1);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes WHERE main_thread = 1 AND frames LIKE "
				     "'%dise_test_crash_segv%' AND frames LIKE '%dispatch%' AND frames LIKE '%main%'"), 1);
	free(core);
	free(st);
	free(dir);
}

/* The same crash captured by the shim and, with no shim, by the handler: one signature. */
static void test_same_signature(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core, preload[4200];
	char *argv[] = {(char *)prog_path("crasher"), "segv", NULL};
	const char *env[] = {preload, f->env_ring, NULL};
	struct dump d = {0};

	need_cores();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim_path());
	assert_int_equal(run_cmd(argv, env, dir, &r), 0); /* the shim's capture */
	assert_true(WIFSIGNALED(r.status));
	run_result_free(&r);
	core = make_core(dir, argv, NULL, &d.pid); /* and the same crash as a core */
	d.sig = SIGSEGV;
	d.exe = prog_path("crasher");
	feed(f, core, &d, st, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes"), 2);
	assert_int_equal(db_count(f, "SELECT COUNT(DISTINCT signature) FROM crashes"), 1);
	assert_int_equal(db_count(f, "SELECT COUNT(DISTINCT sym_signature) FROM crashes WHERE sym_signature IS NOT NULL"), 1);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes WHERE frames LIKE '%dise_test_crash_segv%'"), 2);
	free(core);
	free(st);
	free(dir);
}

/* A crash the shim recorded (it re-raises: the kernel dumps it too) is recorded once. */
static void test_shim_crash_once(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core, preload[4200];
	char *argv[] = {(char *)prog_path("crasher"), "segv", NULL};
	const char *env[] = {preload, f->env_ring, NULL};
	struct dump d = {0};

	need_cores();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim_path());
	core = make_core(dir, argv, env, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("crasher");
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "the shim recorded this crash"));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM runs"), 1);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes"), 1);
	free(core);
	free(st);
	free(dir);
}

/* A Go program built with CGO_ENABLED=0 (static, no libc), or NULL when there is no go toolchain. */
static char *build_go(struct fixture *f)
{
	char *out, *cmd;

	if (system("command -v go >/dev/null 2>&1") != 0)
		return NULL;
	assert_true(asprintf(&out, "%s/gocrash", f->dir) > 0);
	assert_true(asprintf(&cmd,
			     "cd '%s' && env -u LD_PRELOAD CGO_ENABLED=0 GO111MODULE=off GOCACHE='%s/go-cache' "
			     "GOPATH='%s/go-path' HOME='%s' go build -o '%s' gocrash.go",
			     DISE_SOURCE_DIR "/tests/progs/go", DISE_BUILD_DIR, DISE_BUILD_DIR, f->dir, out) > 0);
	assert_int_equal(system(cmd), 0); /* go is there: a build that fails is a failure, not a skip */
	free(cmd);
	return out;
}

/* A Go program's crash (GOTRACEBACK=crash: the runtime dies of SIGABRT): recorded, its frames named. */
static void test_go_crash(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core, *go;
	const char *env[] = {"GOTRACEBACK=crash", NULL};
	struct dump d = {0};

	need_cores();
	if (!(go = build_go(f))) {
		print_message("no go toolchain (scripts/deps.sh installs golang-go)\n");
		skip();
	}
	{
		char *argv[] = {go, NULL};

		core = make_core(dir, argv, env, &d.pid);
	}
	d.sig = SIGABRT;
	d.exe = go;
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "recorded in"));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE "
				     "r.path LIKE '%/gocrash' AND c.signal = 6 AND c.frames LIKE '%runtime.raise%'"), 1);
	unlink(core);
	free(core);
	free(go);
	free(st);
	free(dir);
}

/* A crash on a thread other than the main one: that thread's stack, every thread counted. */
static void test_thread_crash(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core;
	char *argv[] = {(char *)prog_path("static-crasher"), "thread", NULL};
	struct dump d = {0};

	need_cores();
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("static-crasher");
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "2 threads"));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT COUNT(*) FROM crashes WHERE frames LIKE '%dise_test_crash_segv%' "
				     "AND frames LIKE '%thread_main%'"), 1);
	free(core);
	free(st);
	free(dir);
}

/* A previous file pattern gets the core byte for byte, cut at RLIMIT_CORE, none under a page. */
static void test_chain_file(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *out = scratch(f, "out"), *core, *st, pattern[4200], got[4300];
	char *argv[] = {(char *)prog_path("static-crasher"), "abort", NULL};
	struct dump d = {0};

	need_cores();
	snprintf(pattern, sizeof(pattern), "%s/core.%%e.%%p.%%s.%%t", out);
	st = write_state(f->dir, pattern);
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGABRT;
	d.exe = prog_path("static-crasher");
	d.t = "1";
	feed(f, core, &d, st, &r);
	run_result_free(&r);
	snprintf(got, sizeof(got), "%s/core.static-crasher.%d.6.1", out, (int)d.pid);
	assert_int_equal(file_size(got), file_size(core));
	assert_true(same_file_prefix(got, core, file_size(core)));

	d.t = "2";
	d.limit = "8192";
	feed(f, core, &d, st, &r);
	run_result_free(&r);
	snprintf(got, sizeof(got), "%s/core.static-crasher.%d.6.2", out, (int)d.pid);
	assert_int_equal(file_size(got), 8192);
	assert_true(same_file_prefix(got, core, 8192));

	d.t = "3";
	d.limit = "0";
	feed(f, core, &d, st, &r);
	run_result_free(&r);
	snprintf(got, sizeof(got), "%s/core.static-crasher.%d.6.3", out, (int)d.pid);
	assert_int_equal(file_size(got), -1);
	free(core);
	free(st);
	free(out);
	free(dir);
}

/* A previous pipe handler gets the core byte for byte and the arguments the kernel would have given it. */
static void test_chain_pipe(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *sink = scratch(f, "sink"), *core, *st, pattern[4200], path[4300], want[4300];
	char *argv[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	struct dump d = {0};
	char *args;

	need_cores();
	snprintf(pattern, sizeof(pattern), "|%s %s %%P %%s %%e %%E %%c %%h %%%%", prog_path("core-sink"), sink);
	st = write_state(f->dir, pattern);
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("static-crasher");
	d.limit = "0"; /* the kernel ignores RLIMIT_CORE for a pipe: so does the chain */
	feed(f, core, &d, st, &r);
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core", sink);
	assert_int_equal(file_size(path), file_size(core));
	assert_true(same_file_prefix(path, core, file_size(core)));
	snprintf(path, sizeof(path), "%s/args", sink);
	assert_non_null(args = slurp(path));
	snprintf(want, sizeof(want), "%d\n11\nstatic-crasher\n%s\n0\nhost\n%%\n", (int)d.pid, prog_path("static-crasher"));
	for (char *q = strchr(want, '\n') + 1; (q = strchr(q, '/')) && q < strstr(want, "\n0\nhost");)
		*q = '!'; /* %E */
	assert_string_equal(args, want);
	free(args);

	/* RLIMIT_CORE 1: the kernel's "no pipe dump" */
	snprintf(path, sizeof(path), "%s/done", sink);
	assert_int_equal(unlink(path), 0);
	d.limit = "1";
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "RLIMIT_CORE is 1"));
	run_result_free(&r);
	assert_int_equal(file_size(path), -1);
	free(core);
	free(st);
	free(sink);
	free(dir);
}

/* A ring that is a symbolic link is not written through; neither is another user's ring, nor a root-only place. */
static void test_owner_checks(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *rootonly = scratch(f, "rootonly"), *core, *st, pattern[4200], link[4200];
	char *argv[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	char *ring_link_env = NULL, *saved_env_ring = f->env_ring;
	struct dump d = {0};
	struct rec_list l;

	need_cores();
	collect_once(f, &r); /* the ring exists, empty */
	run_result_free(&r);
	snprintf(pattern, sizeof(pattern), "%s/core.%%p.%%u", rootonly);
	st = write_state(f->dir, pattern);
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("static-crasher");

	snprintf(link, sizeof(link), "%s/ring-link", f->dir);
	assert_int_equal(symlink(f->ring, link), 0);
	assert_true(asprintf(&ring_link_env, "DISE_RING=%s", link) > 0);
	f->env_ring = ring_link_env;
	feed(f, core, &d, st, &r);
	f->env_ring = saved_env_ring;
	assert_non_null(strstr(r.err, "not recorded: the user has no usable ring"));
	run_result_free(&r);

	d.uid = "65534"; /* nobody's crash: root's ring and root's directory are not theirs */
	d.t = "2";
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "not recorded"));
	assert_non_null(strstr(r.err, "no core file"));
	run_result_free(&r);
	snprintf(link, sizeof(link), "%s/core.%d.65534", rootonly, (int)d.pid);
	assert_int_equal(file_size(link), -1); /* not there */

	read_ring(f->ring, &l);
	assert_int_equal(l.n, 0);
	rec_list_free(&l);
	free(ring_link_env);
	free(core);
	free(st);
	free(rootonly);
	free(dir);
}

/* A core cut short, or not a core: one line saying why, nothing recorded, the bytes still chained as they came. */
static void test_bad_core(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *out = scratch(f, "out"), *core, *st, pattern[4200], bad[4300], got[4300], cmd[9000];
	char *argv[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	struct dump d = {0};
	struct rec_list l;
	static const char *const why[] = {
	    "the core ended before its notes",
	    "not a 64-bit little-endian ELF file",
	    NULL, /* random program headers: whatever they make wrong */
	    "more than 65534 mappings (PN_XNUM): not supported",
	};
	size_t i;

	need_cores();
	snprintf(pattern, sizeof(pattern), "%s/core.%%t", out);
	st = write_state(f->dir, pattern);
	core = make_core(dir, argv, NULL, &d.pid);
	d.sig = SIGSEGV;
	d.exe = prog_path("static-crasher");
	for (i = 0; i < sizeof(why) / sizeof(why[0]); i++) {
		char t[16];

		snprintf(bad, sizeof(bad), "%s/bad%zu", f->dir, i);
		if (i == 0) /* cut in its notes */
			snprintf(cmd, sizeof(cmd), "head -c 3000 '%s' > '%s'", core, bad);
		else if (i == 1) /* not a core at all */
			snprintf(cmd, sizeof(cmd), "head -c 70000 /dev/urandom > '%s'", bad);
		else if (i == 2) /* its ELF header, then garbage */
			snprintf(cmd, sizeof(cmd), "head -c 64 '%s' > '%s' && head -c 8000 /dev/urandom >> '%s'", core, bad, bad);
		else /* e_phnum PN_XNUM */
			snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && printf '\\377\\377' | dd of='%s' bs=1 seek=56 conv=notrunc 2>/dev/null",
				 core, bad, bad);
		assert_int_equal(system(cmd), 0);
		snprintf(t, sizeof(t), "%zu", 100 + i);
		d.t = t;
		feed(f, bad, &d, st, &r);
		assert_non_null(strstr(r.err, "not recorded"));
		assert_true(!why[i] || strstr(r.err, why[i]));
		run_result_free(&r);
		snprintf(got, sizeof(got), "%s/core.%zu", out, 100 + i);
		assert_int_equal(file_size(got), file_size(bad));
		assert_true(same_file_prefix(got, bad, file_size(bad)));
	}
	read_ring(f->ring, &l);
	assert_int_equal(l.n, 0);
	rec_list_free(&l);
	free(core);
	free(st);
	free(out);
	free(dir);
}

/* A 2 GiB core streams through in bounded memory. */
static void test_big_core(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *core;
	char *argv[] = {(char *)prog_path("core-big"), "2048", NULL};
	struct dump d = {0};

	need_cores();
	core = make_core(dir, argv, NULL, &d.pid);
	assert_true(file_size(core) > (off_t)2048 << 20);
	d.sig = SIGSEGV;
	d.exe = prog_path("core-big");
	feed(f, core, &d, st, &r);
	assert_non_null(strstr(r.err, "recorded in"));
	print_message("dise-coredump on a %lld MiB core: peak RSS %ld KiB\n", (long long)(file_size(core) >> 20),
		      r.ru.ru_maxrss);
	assert_true(r.ru.ru_maxrss < 64 * 1024);
	run_result_free(&r);
	unlink(core);
	free(core);
	free(st);
	free(dir);
}

static void copy_prog(const char *prog, const char *to)
{
	char cmd[8400];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path(prog), to, to, to);
	assert_int_equal(system(cmd), 0);
}

static void dise_run(struct fixture *f, const char *tool, const char *arg, struct run_result *r)
{
	char *argv[] = {(char *)bin_path("dise"), "run", (char *)tool, (char *)arg, NULL};

	dise_cmd(f, argv, r);
}

/*
 * Strikes and healing for a static binary: a release that ran ok (through
 * dise run), then one that crashes three times with no shim and no dise run,
 * seen only by its cores: pruned, routed, and dise run runs the one before.
 */
static void test_static_strikes_heal(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), *st = write_state(f->dir, ""), *app = NULL, *core;
	struct dump d = {0};
	int i;

	need_cores();
	assert_true(asprintf(&app, "%s/app", f->dir) > 0);
	copy_prog("static-exit", app); /* the release that works */
	dise_run(f, app, "0", &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	collector_stop(f); /* dise run started it: from here on the test drains the ring itself */
	copy_prog("static-crasher", app); /* the next, which crashes */
	for (i = 0; i < 3; i++) {
		char *argv[] = {app, "segv", NULL};

		core = make_core(dir, argv, NULL, &d.pid);
		d.sig = SIGSEGV;
		d.exe = app;
		feed(f, core, &d, st, &r);
		assert_non_null(strstr(r.err, "recorded in"));
		run_result_free(&r);
		unlink(core);
		free(core);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%/app' AND outcome = 'crash'"), 3);
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests h JOIN versions v ON v.id = h.version_id "
				     "JOIN failures x ON x.id = h.failure_id WHERE v.tool LIKE '%/app' AND "
				     "x.detector = 'three_strikes'"), 1);
	dise_run(f, app, "0", &r); /* routed: the release before runs in its place */
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "static 0\n");
	run_result_free(&r);
	collector_stop(f);
	free(app);
	free(st);
	free(dir);
}

/* dise core install / uninstall / status on stand-in sysctl files: exactly back as it was. */
static void test_install_files(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *sys = scratch(f, "sys"), path[4200], env_sys[4300], env_state[4300], *v;
	const char *env[] = {env_sys, env_state, NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", NULL};
	char *uninstall[] = {(char *)bin_path("dise"), "core", "uninstall", NULL};
	char *status[] = {(char *)bin_path("dise"), "core", "status", NULL};

	snprintf(env_sys, sizeof(env_sys), "DISE_CORE_SYSCTL=%s", sys);
	snprintf(env_state, sizeof(env_state), "DISE_CORE_STATE=%s/var/core-previous", f->dir);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_int_equal(write_line(path, "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n"), 0);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_int_equal(write_line(path, "0\n"), 0);

	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_non_null(v = slurp(path));
	assert_true(!strncmp(v, "|", 1) && strstr(v, "/dise-coredump %P %i %I %s %t %u %g %c %d %p %h %C %e %f %E"));
	free(v);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "16");
	free(v);
	assert_int_equal(run_cmd(status, env, NULL, &r), 0);
	assert_non_null(strstr(r.out, "installed, chaining to: |/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h"));
	run_result_free(&r);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0); /* again: nothing changes, the saved pattern stays */
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "already installed"));
	run_result_free(&r);

	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h");
	free(v);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "0");
	free(v);
	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0); /* twice: says so, fails */
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "not installed"));
	run_result_free(&r);
	free(sys);
}

/* A handler anyone but root could replace is not installed: the kernel would run it as root. */
static void test_install_refuses_writable_handler(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *sys = scratch(f, "sys"), *open_dir = scratch(f, "open"), path[4200], env_sys[4300], env_state[4300];
	const char *env[] = {env_sys, env_state, NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", "--handler", path, NULL};
	char cmd[8600];

	snprintf(env_sys, sizeof(env_sys), "DISE_CORE_SYSCTL=%s", sys);
	snprintf(env_state, sizeof(env_state), "DISE_CORE_STATE=%s/var/core-previous", f->dir);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_int_equal(write_line(path, "core\n"), 0);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_int_equal(write_line(path, "0\n"), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	snprintf(path, sizeof(path), "%s/dise-coredump", open_dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", bin_path("dise-coredump"), path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "can be written by someone other than root"));
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	{
		char *v = slurp(path);

		assert_non_null(v);
		assert_string_equal(v, "core\n");
		free(v);
	}
	free(open_dir);
	free(sys);
}

/* ---- test-coredump-install: the real kernel.core_pattern (run alone) ---- */

#define REAL_STATE "/var/lib/dise/core-previous" /* the kernel gives the handler no environment: the default */

static void need_real_install(void)
{
	if (geteuid() != 0 || access(PATTERN, W_OK) < 0) {
		print_message("needs root and a writable kernel.core_pattern: it installs dise-coredump for real\n");
		skip();
	}
	if (access(REAL_STATE, F_OK) == 0) {
		print_message("dise-coredump is installed on this machine (" REAL_STATE "): left alone\n");
		skip();
	}
}

static void restore_real(void)
{
	restore_pattern();
	unlink(REAL_STATE);
}

static void test_real_install(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), preload[4200], now[256], cf[4300];
	const char *env[] = {"DISE_CORE_STATE=", NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", NULL};
	char *uninstall[] = {(char *)bin_path("dise"), "core", "uninstall", NULL};
	char *crash_static[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	char *crash_shim[] = {(char *)prog_path("crasher"), "segv", NULL};
	const char *crash_env[] = {f->env_ring, NULL};
	const char *shim_env[] = {f->env_ring, preload, NULL};
	pid_t pid, shim_pid;
	char *core;

	need_real_install();
	assert_int_equal(read_line(PATTERN, saved_pattern, sizeof(saved_pattern)), 0);
	assert_int_equal(read_line(PIPE_LIMIT, saved_limit, sizeof(saved_limit)), 0);
	pattern_changed = 1; /* from here on, teardown puts both back whatever happens */
	atexit(restore_real);
	if (strcmp(saved_pattern, "core"))
		assert_int_equal(write_line(PATTERN, "core"), 0); /* the previous handler whose files are checked */
	collect_once(f, &r); /* the ring */
	run_result_free(&r);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);

	/* a static binary: recorded from the core, and its core file written where "core" put it */
	core = make_core(dir, crash_static, crash_env, &pid);
	snprintf(cf, sizeof(cf), "%s/core", dir);
	assert_true(file_size(cf) > 4096);
	unlink(core);
	free(core);
	/* a shim-watched crash: the kernel dumps it too, recorded once */
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim_path());
	core = make_core(dir, crash_shim, shim_env, &shim_pid);
	free(core);

	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	assert_int_equal(read_line(PATTERN, now, sizeof(now)), 0);
	assert_string_equal(now, strcmp(saved_pattern, "core") ? "core" : saved_pattern);
	restore_real();

	collect_once(f, &r);
	run_result_free(&r);
	{
		char q[256];

		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
			 "AND c.frames LIKE '%%dise_test_crash_segv%%' AND r.path LIKE '%%/static-crasher'", (int)pid);
		assert_int_equal(db_count(f, q), 1);
		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d",
			 (int)shim_pid);
		assert_int_equal(db_count(f, q), 1);
		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM runs WHERE pid = %d", (int)shim_pid);
		assert_int_equal(db_count(f, q), 1);
	}
	free(dir);
}

static int real_teardown(void **state)
{
	(void)state;
	if (pattern_changed)
		restore_real();
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_static_crash, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_same_signature, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_shim_crash_once, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_go_crash, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_thread_crash, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_chain_file, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_chain_pipe, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_owner_checks, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_core, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_big_core, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_static_strikes_heal, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_install_files, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_install_refuses_writable_handler, fixture_setup, fixture_teardown),
	};
	const struct CMUnitTest install[] = {
	    cmocka_unit_test_setup_teardown(test_real_install, fixture_setup, fixture_teardown),
	};

	if (argc > 1 && !strcmp(argv[1], "--install"))
		return cmocka_run_group_tests_name("test-coredump-install", install, NULL, real_teardown);
	return cmocka_run_group_tests(tests, cores_setup, cores_teardown);
}
