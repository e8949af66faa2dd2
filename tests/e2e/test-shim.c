/* SPDX-License-Identifier: MIT */
/*
 * The shim on real programs: every run is made twice, without and with the
 * shim, and must give the same exit status or signal, the same stdout and
 * the same stderr, byte for byte. Then the records in the ring are checked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"

#include "harness.h"
#include "unwind.h"


/* A run of argv: transparent, and recorded with a START and an EXIT (or CRASH) for its pid. */
static void check_run(struct fixture *f, char *const argv[], const char *cwd)
{
	struct run_result r;
	struct rec_list l;

	assert_transparent(argv, f->ring, cwd, &r);
	read_ring(f->ring, &l);
	/* one START per image the process ran: the first, and one after each EXEC */
	if (count_recs(&l, r.pid, DISE_REC_START) != 1 + count_recs(&l, r.pid, DISE_REC_EXEC)) {
		print_error("%s: %zu START records for pid %d\n", argv[0], count_recs(&l, r.pid, DISE_REC_START),
			    r.pid);
		fail();
	}
	if (WIFEXITED(r.status)) {
		const struct dise_record *e = find_rec(&l, r.pid, DISE_REC_EXIT);

		/* a program that execs ends its run with EXEC, and its next image records the EXIT */
		assert_non_null(e);
		assert_int_equal(e->u.exit.status & 0xff, WEXITSTATUS(r.status));
	} else {
		assert_non_null(find_rec(&l, r.pid, DISE_REC_CRASH));
	}
	rec_list_free(&l);
	run_result_free(&r);
}

static void test_coreutils(void **state)
{
	struct fixture *f = *state;
	char *cmds[][6] = {
		{ "/bin/true", NULL },
		{ "/bin/false", NULL },
		{ "/bin/echo", "hello", "world", NULL },
		{ "/bin/ls", "-la", "/usr/share/doc/coreutils", NULL },
		{ "/bin/ls", "/nonexistent", NULL },
		{ "/bin/cat", "/etc/os-release", NULL },
		{ "/usr/bin/sort", "-r", "/etc/os-release", NULL },
		{ "/usr/bin/wc", "-c", "/bin/ls", NULL },
		{ "/usr/bin/sha256sum", "/bin/true", NULL },
		{ "/usr/bin/head", "-n", "3", "/etc/os-release", NULL },
		{ "/usr/bin/stat", "-c", "%s %F", "/bin/ls", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		check_run(f, cmds[i], NULL);
}

static void test_sh(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/bin/sh", "-c", "echo a | tr a b; ls /nonexistent; (exit 3); echo $?; exit 7", NULL };
	struct run_result r;
	struct rec_list l;
	size_t i, children = 0;

	assert_transparent(argv, f->ring, NULL, &r);
	assert_int_equal(WEXITSTATUS(r.status), 7);
	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 1);
	assert_int_equal(find_rec(&l, r.pid, DISE_REC_EXIT)->u.exit.status, 7);
	/* tr and ls are children of sh: forked (a START with the fork flag) then exec'ed (EXEC, then a START) */
	for (i = 0; i < l.n; i++)
		if (l.recs[i].type == DISE_REC_START && l.recs[i].u.start.ppid == (uint32_t)r.pid &&
		    !(l.recs[i].u.start.flags & DISE_START_FORK) &&
		    (strstr(l.recs[i].execfn, "/tr") || strstr(l.recs[i].execfn, "/ls")))
			children++;
	assert_int_equal(children, 2);
	rec_list_free(&l);
	run_result_free(&r);
}

/* A #! script: what was executed (and so the version) is the script, not the interpreter. */
static void test_script(void **state)
{
	struct fixture *f = *state;
	char *script;
	struct run_result r;
	struct rec_list l;
	const struct dise_record *s;
	struct stat st;
	FILE *fp;

	assert_true(asprintf(&script, "%s/tool.sh", f->dir) > 0);
	fp = fopen(script, "w");
	assert_non_null(fp);
	fputs("#!/bin/sh\necho from the script \"$@\"\nexit 4\n", fp);
	fclose(fp);
	assert_int_equal(chmod(script, 0755), 0);
	assert_int_equal(stat(script, &st), 0);
	{
		char *argv[] = { script, "a b", NULL };

		assert_transparent(argv, f->ring, NULL, &r);
	}
	assert_int_equal(WEXITSTATUS(r.status), 4);
	read_ring(f->ring, &l);
	s = find_rec(&l, r.pid, DISE_REC_START);
	assert_non_null(s);
	assert_string_equal(s->execfn, script);
	assert_int_equal(s->u.start.script.ino, st.st_ino);
	assert_int_equal(s->u.start.script.size, (uint64_t)st.st_size);
	assert_int_equal(find_rec(&l, r.pid, DISE_REC_EXIT)->u.exit.status, 4);
	rec_list_free(&l);
	run_result_free(&r);
	free(script);
}

static void test_python(void **state)
{
	struct fixture *f = *state;
	char *ok[] = { "/usr/bin/python3", "-c", "import sys; print(sum(range(100))); sys.exit(5)", NULL };
	char *segv[] = { "/usr/bin/python3", "-c", "import ctypes; ctypes.string_at(0)", NULL };
	char *abrt[] = { "/usr/bin/python3", "-c", "import os; print('x', flush=True); os.abort()", NULL };
	char *thr[] = { "/usr/bin/python3", "-c",
			"import threading\nt=[threading.Thread(target=sum,args=(range(10**5),)) for _ in range(4)]\n"
			"[x.start() for x in t]; [x.join() for x in t]; print('done')",
			NULL };
	struct run_result r;
	struct rec_list l;
	const struct dise_record *c;

	if (access(ok[0], X_OK) != 0)
		skip();
	check_run(f, ok, NULL);
	check_run(f, thr, NULL);
	check_run(f, abrt, NULL);

	assert_transparent(segv, f->ring, NULL, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGSEGV);
	read_ring(f->ring, &l);
	c = find_rec(&l, r.pid, DISE_REC_CRASH);
	assert_non_null(c);
	assert_int_equal(c->u.crash.signo, SIGSEGV);
	assert_true(c->nmodules > 3);
	rec_list_free(&l);
	run_result_free(&r);
}

/*
 * A crash signal the parent ignores stays ignored under the shim (the
 * shim installs its handler, sees SIG_IGN in the old disposition and puts
 * it back, by the system call: intercept-signal.c), and the program's view
 * of the others is SIG_DFL: the same output, status and no CRASH.
 */
static void test_inherited_ignore(void **state)
{
	struct fixture *f = *state;
	char *py[] = { "/usr/bin/python3", "-c",
		       "import os, signal as s\n"
		       "print([s.getsignal(x) for x in (s.SIGABRT, s.SIGTRAP, s.SIGSEGV, s.SIGBUS)])\n"
		       "os.kill(os.getpid(), s.SIGABRT); os.kill(os.getpid(), s.SIGTRAP); print('alive')",
		       NULL };
	struct sigaction ign, old_abrt, old_trap;
	struct run_result d, r;
	struct rec_list l;
	char *pre, *rv;
	const char *env[3];
	int rd, rw;

	if (access(py[0], X_OK) != 0)
		skip();
	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
	env[0] = pre;
	env[1] = rv;
	env[2] = NULL;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGABRT, &ign, &old_abrt);
	sigaction(SIGTRAP, &ign, &old_trap);
	rd = run_cmd(py, NULL, NULL, &d);
	rw = run_cmd(py, env, NULL, &r);
	sigaction(SIGABRT, &old_abrt, NULL); /* before any assertion: the other tests run in this process */
	sigaction(SIGTRAP, &old_trap, NULL);
	free(pre);
	free(rv);
	assert_int_equal(rd, 0);
	assert_int_equal(rw, 0);
	assert_int_equal(r.status, d.status);
	assert_string_equal(r.out, d.out);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_non_null(strstr(r.out, "[<Handlers.SIG_IGN: 1>, <Handlers.SIG_IGN: 1>, <Handlers.SIG_DFL: 0>, "
				      "<Handlers.SIG_DFL: 0>]\nalive\n"));
	read_ring(f->ring, &l);
	assert_non_null(find_rec(&l, r.pid, DISE_REC_START));
	assert_null(find_rec(&l, r.pid, DISE_REC_CRASH));
	rec_list_free(&l);
	run_result_free(&d);
	run_result_free(&r);
}

static void test_git(void **state)
{
	struct fixture *f = *state;
	char *repo;
	char *ver[] = { "/usr/bin/git", "--version", NULL };
	char *bad[] = { "/usr/bin/git", "-C", "/nonexistent", "status", NULL };
	char *init[] = { "/usr/bin/git", "-c", "init.defaultBranch=main", "init", "-q", NULL, NULL };
	char *status[] = { "/usr/bin/git", "status", NULL };
	char *log[] = { "/usr/bin/git", "log", NULL };
	struct run_result r;

	if (access(ver[0], X_OK) != 0)
		skip();
	check_run(f, ver, NULL);
	check_run(f, bad, NULL);
	assert_true(asprintf(&repo, "%s/repo", f->dir) > 0);
	init[5] = repo;
	assert_int_equal(run_cmd(init, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	check_run(f, status, repo);
	check_run(f, log, repo);
	free(repo);
}

static void check_crash_frames(const struct dise_record *c, const char *exe, const char *func)
{
	struct dise_frame *fr = calloc(DISE_MAX_FRAMES, sizeof(*fr));
	unsigned long lo, hi;
	int n, i, hit = 0;

	assert_int_equal(func_range(exe, func, &lo, &hi), 0);
	n = dise_unwind_crash(c, fr, DISE_MAX_FRAMES);
	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		/* above frame 0 the ip is a return address: the call is the byte before it */
		uint64_t at = fr[i].module_off - (i > 0);

		if (fr[i].module && !strcmp(fr[i].module, exe) && at >= lo && at < hi)
			hit = 1;
	}
	if (!hit) {
		print_error("no frame in %s [%#lx, %#lx) among %d frames\n", func, lo, hi, n);
		for (i = 0; i < n; i++)
			print_error("  #%d %#llx %s+%#llx %s\n", i, (unsigned long long)fr[i].ip,
				    fr[i].module ? fr[i].module : "?", (unsigned long long)fr[i].module_off,
				    fr[i].symbol);
		fail();
	}
	free(fr);
}

static void test_crashes(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *mode;
		int sig;         /* 0: exits */
		const char *func; /* a frame must fall inside it */
	} cases[] = {
		{ "segv", SIGSEGV, "dise_test_crash_segv" },
		{ "abort", SIGABRT, "dise_test_crash_abort" },
		{ "fpe", SIGFPE, "dise_test_crash_fpe" },
		{ "ill", SIGILL, "dise_test_crash_ill" },
		{ "trap", SIGTRAP, "dise_test_crash_trap" },
		{ "overflow", SIGSEGV, "dise_test_crash_recurse" },
		{ "thread", SIGSEGV, "dise_test_crash_segv" },
		{ "thread-overflow", SIGSEGV, "dise_test_crash_recurse" },
		{ "thread-overflow-reused", SIGSEGV, "dise_test_crash_recurse" }, /* on a spare alternate stack */
		{ "thread-after-main", SIGSEGV, "dise_test_crash_segv" }, /* the main thread ended (pthread_exit) */
		{ "race", SIGSEGV, "dise_test_crash_segv" },
		{ "own-handler-reraise", SIGSEGV, "dise_test_crash_segv" },
		{ "own-handler", 0, NULL },
		{ "kill", SIGKILL, NULL },
	};
	const char *exe = prog_path("crasher");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { (char *)exe, (char *)cases[i].mode, NULL };
		struct run_result r;
		struct rec_list l;
		const struct dise_record *c;

		assert_transparent(argv, f->ring, NULL, &r);
		read_ring(f->ring, &l);
		assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 1);
		c = find_rec(&l, r.pid, DISE_REC_CRASH);
		if (cases[i].sig && cases[i].sig != SIGKILL) {
			assert_true(WIFSIGNALED(r.status));
			assert_int_equal(WTERMSIG(r.status), cases[i].sig);
			if (!c) {
				print_error("mode %s: no CRASH record\n", cases[i].mode);
				fail();
			}
			assert_int_equal(c->u.crash.signo, cases[i].sig);
			assert_true(c->stack_len > 0);
			assert_int_equal(!!(c->u.crash.flags & DISE_CRASH_OTHER_THREAD),
					 !strncmp(cases[i].mode, "thread", 6) || !strcmp(cases[i].mode, "race"));
			/* threads crashing together: one records, the others wait for it, the process dies once */
			assert_int_equal(count_recs(&l, r.pid, DISE_REC_CRASH), 1);
			check_crash_frames(c, exe, cases[i].func);
		} else {
			/* a handled SIGSEGV, or SIGKILL: no CRASH (SIGKILL leaves no record at all: "vanished") */
			assert_null(c);
			if (!cases[i].sig)
				assert_int_equal(find_rec(&l, r.pid, DISE_REC_EXIT)->u.exit.status, 42);
			else
				assert_null(find_rec(&l, r.pid, DISE_REC_EXIT));
		}
		rec_list_free(&l);
		run_result_free(&r);
	}
}

static void test_exit_codes(void **state)
{
	struct fixture *f = *state;
	static const char *hows[] = { "main", "exit", "_exit" };
	/* return from main and exit() both reach the on_exit handler: the shim cannot tell them apart */
	static const unsigned how_rec[] = { DISE_EXIT_EXIT, DISE_EXIT_EXIT, DISE_EXIT__EXIT };
	struct rec_list l;
	pid_t pids[256];
	int code;

	for (code = 0; code < 256; code++) {
		char num[8];
		char *argv[] = { (char *)prog_path("exitcode"), num, (char *)hows[code % 3], NULL };
		struct run_result r;

		snprintf(num, sizeof(num), "%d", code);
		assert_transparent(argv, f->ring, NULL, &r);
		assert_int_equal(WEXITSTATUS(r.status), code);
		pids[code] = r.pid;
		run_result_free(&r);
	}
	read_ring(f->ring, &l);
	for (code = 0; code < 256; code++) {
		const struct dise_record *e = find_rec(&l, pids[code], DISE_REC_EXIT);

		assert_non_null(e);
		assert_int_equal(e->u.exit.status, code);
		assert_int_equal(e->u.exit.how, how_rec[code % 3]);
		assert_true(e->u.exit.elapsed_ns > 0);
		assert_int_equal(count_recs(&l, pids[code], DISE_REC_START), 1);
	}
	rec_list_free(&l);
}

/*
 * A chain of execs in one process. Its own environment passed on, or a copy
 * that merely lost LD_PRELOAD and DISE_RING ("forget"): every image is
 * watched. An empty environment ("scrub", cleared on purpose): the first
 * image records its EXEC, and what it executes runs unwatched.
 */
static void test_exec_chain(void **state)
{
	struct fixture *f = *state;
	static const char *const modes[] = { NULL, "forget", "scrub" };
	size_t m;

	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char *argv[] = { (char *)prog_path("execchain"), "3", (char *)modes[m], NULL };
		int scrub = modes[m] && !strcmp(modes[m], "scrub");
		struct run_result r;
		struct rec_list l;
		const struct dise_record *e;
		size_t i;

		assert_transparent(argv, f->ring, NULL, &r);
		assert_string_equal(r.out, "chain 3\nchain 2\nchain 1\nchain 0\nend of chain\n");
		read_ring(f->ring, &l);
		if (scrub) {
			assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 1);
			assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXEC), 1);
			assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXIT), 0);
			rec_list_free(&l);
			run_result_free(&r);
			continue;
		}
		/* four images of execchain and one of echo, all in one process: 5 STARTs, 4 EXECs, 1 EXIT */
		assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 5);
		assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXEC), 4);
		assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXIT), 1);
		for (i = 0, e = NULL; i < l.n; i++)
			if (l.recs[i].type == DISE_REC_START && l.recs[i].hdr.pid == (uint32_t)r.pid)
				e = &l.recs[i];
		assert_non_null(e);
		assert_non_null(e ? strstr(e->execfn, "echo") : NULL);
		rec_list_free(&l);
		run_result_free(&r);
	}
}

/* A huge environment: exec still works, untouched, and the child is still watched (it kept LD_PRELOAD). */
static void test_big_environment(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("execchain"), "2", NULL };
	const char *env[2003];
	char *pre, *rv;
	struct run_result a, b;
	struct rec_list l;
	int i;

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
	for (i = 0; i < 2000; i++) {
		char *e;

		assert_true(asprintf(&e, "DISE_TEST_FILLER_%d=%0200d", i, i) > 0);
		env[i] = e;
	}
	env[2000] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, &a), 0);
	env[2000] = pre;
	env[2001] = rv;
	env[2002] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, &b), 0);
	assert_int_equal(a.status, b.status);
	assert_string_equal(a.out, b.out);
	assert_string_equal(a.err, b.err);
	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, b.pid, DISE_REC_START), 4); /* execchain x3, then echo */
	rec_list_free(&l);
	for (i = 0; i < 2000; i++)
		free((char *)env[i]);
	free(pre);
	free(rv);
	run_result_free(&a);
	run_result_free(&b);
}

static void test_fork(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("forker"), NULL };
	struct run_result r;
	struct rec_list l;
	size_t i, kids = 0;

	assert_transparent(argv, f->ring, NULL, &r);
	read_ring(f->ring, &l);
	for (i = 0; i < l.n; i++) {
		const struct dise_record *s = &l.recs[i], *e;

		if (s->type != DISE_REC_START || !(s->u.start.flags & DISE_START_FORK))
			continue;
		assert_int_equal(s->u.start.ppid, r.pid);
		e = find_rec(&l, (pid_t)s->hdr.pid, DISE_REC_EXIT);
		assert_non_null(e);
		assert_int_equal(e->u.exit.status, 10 + (int)kids);
		assert_int_equal(e->hdr.run_start_ns, s->hdr.run_start_ns);
		kids++;
	}
	assert_int_equal(kids, 3);
	rec_list_free(&l);
	run_result_free(&r);
}

/*
 * A fork child's run starts from the clocks its parent's fork() read (one
 * per thread, tagged with the forker's pid). A fork glibc makes itself
 * (daemon(), in a fork child of ours) does not pass there: the grandchild
 * reads its own clocks, never the stamp its parent inherited.
 */
static void check_daemon(struct fixture *f, const char *mode)
{
	char *argv[] = { (char *)prog_path("forker"), (char *)mode, NULL };
	const struct dise_record *c = NULL, *g = NULL, *e;
	struct run_result r;
	struct rec_list l;
	size_t i;

	assert_transparent(argv, f->ring, NULL, &r);
	read_ring(f->ring, &l);
	for (i = 0; i < l.n; i++) /* the child: forked ("daemon") or spawned ("daemon-first") */
		if (l.recs[i].type == DISE_REC_START && l.recs[i].u.start.ppid == (uint32_t)r.pid)
			c = &l.recs[i];
	if (!c)
		fail_msg("no fork child's START");
	for (i = 0; i < l.n; i++)
		if (l.recs[i].type == DISE_REC_START && (l.recs[i].u.start.flags & DISE_START_FORK) &&
		    l.recs[i].u.start.ppid == c->hdr.pid)
			g = &l.recs[i];
	if (!g)
		fail_msg("no START of the daemon() grandchild");
	e = find_rec(&l, r.pid, DISE_REC_START);
	if (!e)
		fail_msg("no START of forker");
	assert_true(c->hdr.run_start_ns > e->hdr.run_start_ns);
	assert_true(g->hdr.run_start_ns > c->hdr.run_start_ns); /* not the stamp of the child's own fork */
	assert_true(g->u.start.wall_ns != c->u.start.wall_ns); /* the wall clock may step: only not the stamp */
	e = find_rec(&l, (pid_t)g->hdr.pid, DISE_REC_EXIT);
	if (!e)
		fail_msg("no EXIT of the daemon() grandchild");
	assert_int_equal(e->hdr.run_start_ns, g->hdr.run_start_ns);
	rec_list_free(&l);
	run_result_free(&r);
}

static void test_fork_daemon(void **state)
{
	check_daemon(*state, "daemon");
}

/*
 * The child handler is registered at a process's first fork, not at
 * start: daemon() or forkpty() as the first fork of a process (forks
 * inside glibc) still gives its child a START of its own.
 */
static void test_daemon_first_fork(void **state)
{
	check_daemon(*state, "daemon-first");
	check_daemon(*state, "forkpty-first");
}

/*
 * The wait family, interposed: every call returns, fills and fails exactly
 * as without the shim (reaper prints each result), and each child reaped
 * is one REAP record of the reaper with the child's wait status; no record
 * for a stop, a continue, WNOHANG's 0, WNOWAIT or ECHILD.
 */
static void test_wait_calls(void **state)
{
	static const int endings[] = { 3 << 8, SIGTERM, 0, 7 << 8, 9 << 8, 11 << 8, 12 << 8, 13 << 8, SIGKILL, SIGKILL, 21 << 8 };
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("reaper"), NULL };
	struct run_result r;
	struct rec_list l;
	size_t i, k = 0;

	assert_transparent(argv, f->ring, NULL, &r);
	assert_non_null(strstr(r.out, "waitpid no child: -1 status 0 errno ECHILD"));
	assert_non_null(strstr(r.out, "SIGCHLD handler: reaped 1 status 0x1500"));
	read_ring(f->ring, &l);
	for (i = 0; i < l.n; i++) {
		const struct dise_record *w = &l.recs[i];

		if (w->type != DISE_REC_REAP)
			continue;
		assert_int_equal(w->hdr.pid, r.pid);
		assert_true(k < sizeof(endings) / sizeof(endings[0]));
		assert_int_equal(w->u.reap.status, endings[k]);
		if (WIFEXITED(endings[k])) /* a child killed at once may die before its START */
			assert_non_null(find_rec(&l, (pid_t)w->u.reap.child_pid, DISE_REC_START));
		k++;
	}
	assert_int_equal(k, sizeof(endings) / sizeof(endings[0]));
	rec_list_free(&l);
	run_result_free(&r);
}

static void test_spawn(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("spawner"), NULL };
	struct run_result r;
	struct rec_list l;
	size_t i, echo = 0, sh = 0;

	assert_transparent(argv, f->ring, NULL, &r);
	read_ring(f->ring, &l);
	for (i = 0; i < l.n; i++) {
		const struct dise_record *s = &l.recs[i];

		if (s->type != DISE_REC_START || s->u.start.ppid != (uint32_t)r.pid)
			continue;
		if (strstr(s->execfn, "echo")) {
			/* the one spawned with an environment that lost the shim; the cleared one runs unwatched */
			assert_non_null(memmem(s->argv, s->argv_len, "lost", 5));
			echo++;
		}
		if (strstr(s->execfn, "sh"))
			sh++;
	}
	assert_int_equal(echo, 1);
	assert_int_equal(sh, 1);
	/* the vfork child that _exit()s shares our memory: it must not end the parent's run */
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXIT), 1);
	assert_int_equal(find_rec(&l, r.pid, DISE_REC_EXIT)->u.exit.status, 0);
	rec_list_free(&l);
	run_result_free(&r);
}

static void test_closefds_threads(void **state)
{
	struct fixture *f = *state;
	char *c1[] = { (char *)prog_path("closefds"), NULL };
	char *c2[] = { (char *)prog_path("closefds"), "segv", NULL };
	char *t[] = { (char *)prog_path("threads"), NULL };

	check_run(f, c1, NULL);
	check_run(f, c2, NULL);
	check_run(f, t, NULL);
}

/* The programs every bad-ring case runs: each must behave exactly as without dise. */
static void run_suite_transparent(const char *ring)
{
	char *a[] = { (char *)prog_path("crasher"), "segv", NULL };
	char *b[] = { (char *)prog_path("exitcode"), "7", "exit", NULL };
	char *c[] = { "/bin/sh", "-c", "echo x; ls /nonexistent", NULL };
	char *d[] = { (char *)prog_path("threads"), NULL };

	assert_transparent(a, ring, NULL, NULL);
	assert_transparent(b, ring, NULL, NULL);
	assert_transparent(c, ring, NULL, NULL);
	assert_transparent(d, ring, NULL, NULL);
}

static void file_bytes(const char *path, char **buf, size_t *len)
{
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	*buf = malloc(*len + 1);
	assert_int_equal(fread(*buf, 1, *len, fp), *len);
	fclose(fp);
}

/* Runs the suite against a ring the shim must refuse, and checks nobody wrote into it. */
static void assert_ring_refused(const char *path)
{
	char *before, *after;
	size_t lb, la;

	file_bytes(path, &before, &lb);
	run_suite_transparent(path);
	file_bytes(path, &after, &la);
	assert_true(la == lb && !memcmp(before, after, lb));
	free(before);
	free(after);
}

static void test_bad_rings(void **state)
{
	struct fixture *f = *state;
	char *path;
	struct dise_ring_header h;
	int fd;

	/* no ring can be made: the directory does not exist */
	assert_true(asprintf(&path, "%s/missing/ring", f->dir) > 0);
	run_suite_transparent(path);
	assert_int_equal(access(path, F_OK), -1);
	free(path);

	/* not writable: a path under /proc */
	run_suite_transparent("/proc/self/dise-ring");

	/* garbage of the right size */
	assert_true(asprintf(&path, "%s/garbage", f->dir) > 0);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	{
		char junk[4096];
		size_t i;

		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 131 + 7);
		for (i = 0; i < dise_ring_file_size(1, 64) / sizeof(junk) + 1; i++)
			assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	}
	close(fd);
	assert_ring_refused(path);
	free(path);

	/* a valid ring of another layout version */
	assert_true(asprintf(&path, "%s/v99", f->dir) > 0);
	memset(&h, 0, sizeof(h));
	h.magic = DISE_RING_MAGIC;
	h.layout_version = 99;
	h.header_size = DISE_RING_HEADER_SIZE;
	h.slot_size = DISE_SLOT_SIZE;
	h.nshards = 1;
	h.shard_slots = 64;
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_int_equal(ftruncate(fd, (off_t)dise_ring_file_size(1, 64)), 0);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	assert_ring_refused(path);
	free(path);

	/* readable by others: refused */
	assert_true(asprintf(&path, "%s/open", f->dir) > 0);
	{
		dise_ring r;

		assert_int_equal(dise_ring_map(path, DISE_RING_WRITE | DISE_RING_CREATE, 64, 0, &r), 0);
		dise_ring_unmap(&r);
		chmod(path, 0644);
		assert_ring_refused(path);
	}
	free(path);

	/* full: a tiny ring nobody drains; runs go on, drops are counted */
	assert_true(asprintf(&path, "%s/tiny", f->dir) > 0);
	{
		dise_ring r;
		int i;

		assert_int_equal(dise_ring_map(path, DISE_RING_WRITE | DISE_RING_CREATE, 64, 0, &r), 0);
		for (i = 0; i < 200; i++) {
			struct dise_rec_hdr hh = { .size = sizeof(hh), .type = DISE_REC_TEST, .hdr_size = sizeof(hh) };

			dise_ring_put(&r, &hh, sizeof(hh));
		}
		assert_true(dise_ring_stats_of(&r).dropped > 0);
		run_suite_transparent(path);
		assert_true(dise_ring_stats_of(&r).dropped > 136);
		dise_ring_unmap(&r);
	}
	free(path);
}

/* The ring's head (records written), 0 when it cannot be mapped. */
static uint64_t ring_head(const char *path)
{
	dise_ring r;
	uint64_t head;

	if (dise_ring_map(path, 0, 0, 0, &r) != 0)
		return 0;
	head = dise_ring_stats_of(&r).head;
	dise_ring_unmap(&r);
	return head;
}

/*
 * Another process truncates the ring while a watched program runs: the
 * program's next write into the ring must not kill it with SIGBUS.
 */
static void test_ring_truncated_under_producer(void **state)
{
	struct fixture *f = *state;
	char *pre, *rv;
	int in[2], st;
	pid_t pid;
	dise_ring r;

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r), 0);
	dise_ring_unmap(&r);
	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
	assert_int_equal(pipe(in), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "/bin/sh", "-c", "read x; exit 5", NULL };
		char *envp[] = { pre, rv, "PATH=/usr/bin:/bin", NULL };

		dup2(in[0], 0);
		close(in[1]);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(in[0]);
	/* wait for its START, so the ring is mapped in it, then cut the file */
	if (!wait_for(ring_head(f->ring) > 0, WAIT_MS))
		fail_msg("the watched program never wrote its START");
	assert_int_equal(truncate(f->ring, 0), 0);
	assert_int_equal(write(in[1], "go\n", 3), 3);
	close(in[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st)) {
		print_error("the watched program died of signal %d\n", WTERMSIG(st));
		fail();
	}
	assert_int_equal(WEXITSTATUS(st), 5);
	free(pre);
	free(rv);
}

static void test_ring_dump_json(void **state)
{
	struct fixture *f = *state;
	char *crash[] = { (char *)prog_path("crasher"), "thread", NULL };
	char *dump[] = { (char *)bin_path("dise"), "ring", "dump", "--json", NULL };
	char *stat[] = { (char *)bin_path("dise"), "ring", "stat", "--json", NULL };
	char *rv;
	const char *env[3];
	struct run_result r, d;
	char *line, *save = NULL;
	int starts = 0, crashes = 0, found = 0;

	assert_transparent(crash, f->ring, NULL, &r);
	assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
	env[0] = rv;
	env[1] = f->env_home; /* nothing of the user's own state, even by accident */
	env[2] = NULL;
	assert_int_equal(run_cmd(dump, env, NULL, &d), 0);
	assert_int_equal(d.status, 0);
	for (line = strtok_r(d.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err), *fr;
		size_t i;

		assert_non_null(o);
		if (!strcmp(json_string_value(json_object_get(o, "type")), "start"))
			starts++;
		if (!strcmp(json_string_value(json_object_get(o, "type")), "crash")) {
			crashes++;
			assert_string_equal(json_string_value(json_object_get(o, "signal_name")), "SIGSEGV");
			assert_false(json_is_true(json_object_get(o, "main_thread")));
			fr = json_object_get(o, "frames");
			for (i = 0; i < json_array_size(fr); i++) {
				const char *fn = json_string_value(json_object_get(json_array_get(fr, i), "function"));

				if (fn && !strcmp(fn, "dise_test_crash_segv"))
					found = 1;
			}
		}
		json_decref(o);
	}
	assert_int_equal(starts, 1);
	assert_int_equal(crashes, 1);
	assert_true(found);
	run_result_free(&d);

	assert_int_equal(run_cmd(stat, env, NULL, &d), 0);
	assert_int_equal(d.status, 0);
	assert_non_null(strstr(d.out, "\"written\":2"));
	assert_non_null(strstr(d.out, "\"dropped\":0"));
	run_result_free(&d);
	run_result_free(&r);
	free(rv);
}

static void test_setuid(void **state)
{
	struct fixture *f = *state;
	char *copy, *cmd;
	struct stat st;

	/* Root running a setuid-nobody copy of id: AT_SECURE, the loader drops LD_PRELOAD. */
	if (geteuid() != 0)
		skip();
	assert_true(asprintf(&copy, "%s/id-suid", f->dir) > 0);
	assert_true(asprintf(&cmd, "cp /usr/bin/id '%s' && chown nobody '%s' && chmod 4755 '%s'", copy, copy, copy) > 0);
	if (system(cmd) != 0 || stat(copy, &st) != 0 || !(st.st_mode & S_ISUID))
		skip();
	chmod(f->dir, 0755);
	{
		char *argv[] = { copy, "-u", NULL };
		struct run_result r;
		struct rec_list l;

		assert_transparent(argv, f->ring, NULL, &r);
		if (!strcmp(r.out, "0\n")) { /* nosuid mount: the bit did nothing */
			run_result_free(&r);
			free(copy);
			free(cmd);
			skip();
		}
		read_ring(f->ring, &l);
		assert_int_equal(count_recs(&l, r.pid, 0), 0);
		rec_list_free(&l);
		run_result_free(&r);
	}
	free(copy);
	free(cmd);
}

/*
 * A producer killed between reserve and commit (a child SIGKILLed at once,
 * as reaper's) leaves a hole in its shard: read_ring goes on past it, as the
 * collector does, and returns the records behind it (it stopped at the hole
 * once, and test_wait_calls saw 1 REAP record of 11).
 */
static void test_read_ring_past_hole(void **state)
{
	struct fixture *f = *state;
	uint8_t rec[512];
	struct rec_list l;
	dise_ring ring;

	ring_with_hole(f->ring, &ring);
	assert_int_equal(dise_ring_put(&ring, rec, (uint32_t)make_start(rec, 4242, 1)), 0);
	dise_ring_unmap(&ring);
	read_ring(f->ring, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.recs[0].type, DISE_REC_START);
	assert_int_equal(l.recs[0].hdr.pid, 4242);
	rec_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_coreutils, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sh, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_script, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_python, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_git, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inherited_ignore, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_crashes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_exit_codes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_exec_chain, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_big_environment, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fork, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fork_daemon, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_daemon_first_fork, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_spawn, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_closefds_threads, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bad_rings, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ring_truncated_under_producer, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ring_dump_json, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_setuid, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_wait_calls, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_read_ring_past_hole, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
