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
 * failed (tests/e2e/core-util.c). Nothing here changes the pattern to a
 * pipe: that is test-coredump-install, which ctest runs alone (RUN_SERIAL):
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

#include "core-util.h"
#include "harness.h"

#include <cmocka.h>


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

int main(void)
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
	};

	return cmocka_run_group_tests(tests, cores_setup, cores_teardown);
}
