/* SPDX-License-Identifier: MIT */
/*
 * `dise attach`: real long-running programs started without the shim
 * (tests/progs/waiter, coreutils sleep, a python3 loop), attached, then
 * made to crash on a second thread, exit with a code, fork, exec, stop and
 * continue, be SIGKILLed or be detached from. The target's wait status is
 * compared with a run of the same command without attach; the records are
 * checked in the ring and, through the collector, in the database and
 * `dise runs --json`.
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
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "attach.h"
#include "dise/event.h"
#include "harness.h"

struct target {
	pid_t pid;
	int in;   /* its stdin */
	FILE *out; /* its stdout */
};

/*
 * Starts argv with pipes on stdin and stdout, core dumps off, unwatched
 * unless env ("K=V" entries, may be NULL) says otherwise; for waiter, waits
 * for "ready".
 */
static void target_start_env(struct target *t, char *const argv[], int waiter, char *const env[])
{
	int in[2], out[2];
	char line[256];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		struct rlimit no_core = { 0, 0 };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(in[0], 0);
		dup2(out[1], 1);
		unsetenv("LD_PRELOAD");
		for (; env && *env; env++)
			putenv(*env);
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(t->pid);
	close(in[0]);
	close(out[1]);
	t->in = in[1];
	t->out = fdopen(out[0], "r");
	assert_non_null(t->out);
	if (waiter) {
		assert_non_null(fgets(line, sizeof(line), t->out));
		assert_int_equal(strncmp(line, "ready ", 6), 0);
	}
}

static void target_start(struct target *t, char *const argv[], int waiter)
{
	target_start_env(t, argv, waiter, NULL);
}

/* Sends cmd (may be NULL: just close stdin) and waits for the target; returns its wait status. */
static int target_finish(struct target *t, const char *cmd)
{
	int st;

	if (cmd) {
		assert_int_equal(write(t->in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
		assert_int_equal(write(t->in, "\n", 1), 1);
	}
	close(t->in);
	while (waitpid(t->pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	fclose(t->out);
	return st;
}

/* The wait status of the waiter given cmd with no attach. */
static int plain_status(const char *cmd)
{
	struct target t;
	char *argv[] = { (char *)prog_path("waiter"), NULL };

	target_start(&t, argv, 1);
	return target_finish(&t, cmd);
}

struct attacher {
	pid_t pid;
	FILE *err;
	char text[16384]; /* its stderr so far */
};

/*
 * attach_spawn starts `dise attach PID [extra]`; attach_start_home also waits
 * until it says it watches (or ends); home: its DISE_HOME=... entry (NULL:
 * the fixture's).
 */
static void attach_spawn(struct fixture *f, struct attacher *a, pid_t pid, const char *extra, char *home)
{
	char spid[32];
	int errp[2];

	snprintf(spid, sizeof(spid), "%d", (int)pid);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		char *argv[] = { (char *)bin_path("dise"), "attach", spid, (char *)extra, NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(errp[1], 2);
		putenv(f->env_ring);
		putenv(home ? home : f->env_home);
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(a->pid);
	close(errp[1]);
	a->err = fdopen(errp[0], "r");
	a->text[0] = '\0';
}

static void attach_start_home(struct fixture *f, struct attacher *a, pid_t pid, const char *extra, char *home)
{
	size_t n = 0;

	attach_spawn(f, a, pid, extra, home);
	while (n + 1 < sizeof(a->text) && fgets(a->text + n, (int)(sizeof(a->text) - n), a->err)) {
		if (strstr(a->text + n, "watching process"))
			return;
		n += strlen(a->text + n);
	}
}

static void attach_start(struct fixture *f, struct attacher *a, pid_t pid, const char *extra)
{
	attach_start_home(f, a, pid, extra, NULL);
}

/* Waits for dise attach; returns its wait status, with all it said in a->text. */
static int attach_finish(struct attacher *a)
{
	size_t n = strlen(a->text);
	int st;

	while (n + 1 < sizeof(a->text) && fgets(a->text + n, (int)(sizeof(a->text) - n), a->err))
		n += strlen(a->text + n);
	fclose(a->err);
	while (waitpid(a->pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	return st;
}

/*
 * One waiter run, attached from its start: cmd sent, both waited for, dise
 * attach asserted to have ended well. Returns the waiter's wait status; its
 * pid in *pid, what dise attach said in a (may be NULL).
 */
static int waiter_attached(struct fixture *f, const char *cmd, pid_t *pid, struct attacher *a)
{
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	struct attacher own, *at = a ? a : &own;
	struct target t;
	int st;

	target_start(&t, argv, 1);
	attach_start(f, at, t.pid, NULL);
	st = target_finish(&t, cmd);
	assert_true(WIFEXITED(attach_finish(at)));
	if (pid)
		*pid = t.pid;
	return st;
}

/*
 * dise attach started the collector daemon (as dise run does): stop it, so
 * that what it had not stored yet is drained by one collector run here.
 */
static void settle(struct fixture *f)
{
	char *stop[] = { (char *)bin_path("dise"), "collector", "stop", NULL };
	struct run_result r;

	dise_cmd(f, stop, &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
}

static int64_t count_sql(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int64_t count_sql(struct fixture *f, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return db_count(f, sql);
}

/* Attached, the waiter crashes on its second thread: status as without attach; START, CRASH, EXIT in the ring. */
static void test_attach_thread_crash(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	struct target t;
	struct attacher a;
	struct rec_list l;
	const struct dise_record *c;
	int st, want = plain_status("thread-segv");

	/* no collector can start with this home: the records stay in the ring, to be read here */
	target_start(&t, argv, 1);
	attach_start_home(f, &a, t.pid, NULL, "DISE_HOME=/dev/null/none");
	assert_non_null(strstr(a.text, "no collector runs; the records wait in the ring"));
	assert_non_null(strstr(a.text, "watching process"));
	st = target_finish(&t, "thread-segv");
	assert_int_equal(st, want);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = attach_finish(&a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(a.text, "waiter_crash_thread"));
	assert_non_null(strstr(a.text, "was killed by SIGSEGV"));
	/*
	 * all threads' stacks: the two idle ones (in pause), and the main
	 * thread, wherever the crash found it (in pthread_join, or still in
	 * pthread_create on a loaded machine)
	 */
	assert_non_null(strstr(a.text, "the other 3 threads of process"));
	assert_non_null(strstr(a.text, " idle_main+"));
	{
		char tid_line[64];

		snprintf(tid_line, sizeof(tid_line), "\nTID %d:\n#0 ", (int)t.pid);
		assert_non_null(strstr(a.text, tid_line));
	}

	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, t.pid, DISE_REC_START), 1);
	assert_non_null(c = find_rec(&l, t.pid, DISE_REC_START));
	assert_true(c->u.start.flags & DISE_START_ATTACHED);
	/* named as the shim names a run: AT_EXECFN, exe left empty */
	assert_string_equal(c->execfn, prog_path("waiter"));
	assert_string_equal(c->exe, "");
	assert_int_equal(count_recs(&l, t.pid, DISE_REC_CRASH), 1);
	c = find_rec(&l, t.pid, DISE_REC_CRASH);
	assert_int_equal(c->u.crash.signo, SIGSEGV);
	assert_true(c->u.crash.flags & DISE_CRASH_OTHER_THREAD);
	assert_true(c->hdr.tid != (uint32_t)t.pid);
	assert_true(c->nmodules >= 2);
	c = find_rec(&l, t.pid, DISE_REC_EXIT);
	assert_non_null(c);
	assert_int_equal(c->u.exit.how, DISE_EXIT_TRACED);
	assert_int_equal(c->u.exit.status, want);
	rec_list_free(&l);

}

/*
 * A crash on a second thread, exit N, abort, a handled SIGSEGV, SIGKILL: the
 * target ends as it would alone; the collector's runs say how, with the
 * crash's frames as for a preloaded run.
 */
static void test_attach_endings(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *cmd, *outcome;
	} cases[] = {
		{ "exit 7", "fail" },	 { "exit 0", "ok" },	      { "abort", "crash" },
		{ "handled", "fail" }, { NULL, "vanished" }, { "thread-segv", "crash" },
		{ "rt-thread-segv", "crash" }, /* a caught real-time signal sets SigCgt's top bit */
	};
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	pid_t pids[7];
	size_t i;

	for (i = 0; i < 7; i++) {
		struct target t;
		struct attacher a;
		int st, want;

		want = cases[i].cmd ? plain_status(cases[i].cmd) : 0;
		target_start(&t, argv, 1);
		attach_start(f, &a, t.pid, NULL);
		if (cases[i].cmd) {
			st = target_finish(&t, cases[i].cmd);
			assert_int_equal(st, want);
		} else {
			kill(t.pid, SIGKILL);
			st = target_finish(&t, NULL);
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		}
		st = attach_finish(&a);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		pids[i] = t.pid;
	}
	settle(f);
	for (i = 0; i < 7; i++)
		assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = '%s' AND tool LIKE '%%/waiter'",
					   (int)pids[i],
					   cases[i].outcome),
				 1);
	assert_int_equal(count_sql(f, "SELECT exit_status FROM runs WHERE pid = %d", (int)pids[0]), 7);
	assert_int_equal(count_sql(f, "SELECT exit_status FROM runs WHERE pid = %d", (int)pids[3]), 42);
	/* abort: a CRASH with the stack; the handled SIGSEGV: none (the program's handler ran) */
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
				      "AND c.signal = 6", (int)pids[2]),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d",
				   (int)pids[3]),
			 0);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
				      "AND c.frames LIKE '%%\"waiter_crash_thread\"%%'", (int)pids[6]),
			 1);
	/* the second thread's crash: symbolized frames, in `dise runs --json` too */
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
				      "AND r.signal = 11 AND c.frames LIKE '%%\"waiter_crash_thread\"%%' AND c.main_thread = 0",
				   (int)pids[5]),
			 1);
	{
		char *runs[] = { (char *)bin_path("dise"), "runs", "--json", NULL };
		json_t *j = dise_json(f, runs), *o = NULL;

		for (i = 0; i < json_array_size(j); i++)
			if (json_integer_value(json_object_get(json_array_get(j, i), "pid")) == pids[5])
				o = json_array_get(j, i);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "outcome")), "crash");
		assert_non_null(json_string_value(json_object_get(o, "crash_signature")));
		json_decref(j);
	}
}

/*
 * The tracer's records wake a gathering collector only for an end that may
 * be a strike, as the shim's do (ring.h, DISE_WAKE_URGENT): the test holds
 * the ring's consumer lock (no collector consumes it) and says it gathers;
 * a producer that woke it took the word back to 0. An ok end leaves it.
 */
static void test_attach_wakes_for_ends(void **state)
{
	struct fixture *f = *state;
	dise_ring_reader *rd;
	dise_ring r;
	int st;

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r), 0);
	assert_int_equal(dise_ring_reader_new(f->ring, 0, 0, &rd), 0);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	st = waiter_attached(f, "exit 0", NULL, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(atomic_load(&r.hdr->wake), DISE_WAKE_URGENT);
	st = waiter_attached(f, "exit 3", NULL, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	assert_int_equal(atomic_load(&r.hdr->wake), DISE_WAKE_NONE);
	dise_ring_reader_free(rd);
	dise_ring_unmap(&r);
}

/*
 * A child forked after attaching is a run of its own (its exit, its crash);
 * an exec starts a new run linked to the old one.
 */
static void test_attach_fork_and_exec(void **state)
{
	struct fixture *f = *state;
	char cmd[4200];
	pid_t tp, up, vp;
	int st;

	st = waiter_attached(f, "fork-exit 5", &tp, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* a forked child that crashes: a crash of its own run, the parent fine */
	st = waiter_attached(f, "fork-segv", &vp, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(cmd, sizeof(cmd), "exec %s 9", prog_path("exitcode"));
	st = waiter_attached(f, cmd, &up, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 9);

	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'ok'", (int)tp), 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d AND forked = 1 AND outcome = 'fail' "
				      "AND exit_status = 5", (int)tp),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'ok'", (int)vp), 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs r JOIN crashes c ON c.run_id = r.id WHERE r.ppid = %d "
				      "AND r.forked = 1 AND r.outcome = 'crash' AND c.frames LIKE '%%waiter_crash_thread%%'",
				   (int)vp),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND tool LIKE '%%/waiter' AND outcome = 'exec'",
				   (int)up),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs n JOIN runs o ON o.id = n.exec_parent WHERE n.pid = %d "
				      "AND n.tool LIKE '%%/exitcode' AND n.outcome = 'fail' AND n.exit_status = 9",
				   (int)up),
			 1);
}

/* posix_spawn (a vfork-like clone, then exec) while attached: each child is a run of its own, nothing hangs. */
static void test_attach_spawns(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int st = waiter_attached(f, "spawn 50", &pid, NULL);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	settle(f);
	/* each child: a fork START, then an exec into true, which ends ok */
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d AND forked = 1 AND outcome = 'exec'",
				   (int)pid),
			 50);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs n JOIN runs o ON o.id = n.exec_parent "
				      "WHERE o.ppid = %d AND n.tool LIKE '%%/true' AND n.outcome = 'ok'", (int)pid),
			 50);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'ok'", (int)pid), 1);
}

/*
 * Children that end at once (issue 10, observation 15): a child's first
 * stop, and its end, may come before its parent's fork event. Each child is
 * one run, named and ended; none is made again from the late fork event
 * (a phantom: no tool, no end, then `vanished`). The kernel delivers that
 * order only sometimes; the tracer's test switch makes it every time (it
 * handles each forked child's whole life before its parent's event), then
 * the same is done without it.
 */
static void test_attach_short_children(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int st;

	setenv("DISE_TEST_ATTACH_LATE_FORK", "1", 1);
	st = waiter_attached(f, "forks 100", &pid, NULL);
	unsetenv("DISE_TEST_ATTACH_LATE_FORK");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d AND forked = 1 AND outcome = 'ok' "
				      "AND tool LIKE '%%/waiter'", (int)pid),
			 100);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d", (int)pid), 100);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE outcome = 'vanished' OR tool = ''"), 0);

	st = waiter_attached(f, "forks 300", &pid, NULL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d AND forked = 1 AND outcome = 'ok' "
				      "AND tool LIKE '%%/waiter'", (int)pid),
			 300);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE ppid = %d", (int)pid), 300);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE outcome = 'vanished' OR tool = ''"), 0);
}

/*
 * Pid reuse (issue 10, observation 15), as pid 1 of a pid namespace of its
 * own, where the next pid is ours to choose: a process is pinned by the
 * tracer (as `dise attach` does before its checks), ends, and another takes
 * its pid before the seize. The seize must refuse it, and leave it
 * untraced. Returns 0, or the step that went wrong; 77: cannot here.
 */
static int pid_reuse_in_namespace(void)
{
	dise_tracer *t = NULL;
	char last[32], line[128];
	pid_t a, b;
	int fd, r, st, traced = -1;
	FILE *fp;

	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return 77;
	if ((a = fork()) == 0) {
		pause();
		_exit(0);
	}
	if (a < 0 || dise_tracer_new(a, NULL, NULL, &t) != 0)
		return 10;
	kill(a, SIGKILL);
	waitpid(a, &st, 0);
	snprintf(last, sizeof(last), "%d", (int)a - 1);
	if ((fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY)) < 0 || write(fd, last, strlen(last)) < 0)
		return 77;
	close(fd);
	if ((b = fork()) == 0) {
		pause();
		_exit(0);
	}
	if (b != a)
		return 11; /* nobody else forks in here: the pid is the one asked for */
	r = dise_tracer_seize(t, 1);
	snprintf(line, sizeof(line), "/proc/%d/status", (int)b);
	if ((fp = fopen(line, "r"))) {
		while (fgets(line, sizeof(line), fp))
			if (!strncmp(line, "TracerPid:", 10))
				traced = atoi(line + 10);
		fclose(fp);
	}
	dise_tracer_free(t);
	kill(b, SIGKILL);
	waitpid(b, &st, 0);
	if (r != -ESRCH)
		return 12; /* it seized the other process */
	return traced == 0 ? 0 : 13;
}

static void test_attach_pid_reused(void **state)
{
	pid_t h;
	int st;

	(void)state;
	if ((h = fork()) == 0) {
		pid_t init;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
			_exit(77);
		if ((init = fork()) == 0)
			_exit(pid_reuse_in_namespace());
		if (init < 0 || waitpid(init, &st, 0) != init)
			_exit(99);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 98);
	}
	assert_true(h > 0);
	track_child(h);
	assert_int_equal(waitpid(h, &st, 0), h);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		print_message("skipped: no pid namespace of our own here (unshare or mount: needs CAP_SYS_ADMIN)\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* SIGTERM to dise attach, or --detach-after: detached, untraced, the target goes on and ends as it would. */
static void test_attach_detach(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	pid_t pids[2];
	int k;

	for (k = 0; k < 2; k++) {
		struct target t;
		char path[64], buf[4096];
		int st, traced = -1;
		FILE *s;

		target_start(&t, argv, 1);
		if (k == 0) {
			struct attacher a;

			attach_start(f, &a, t.pid, NULL);
			kill(a.pid, SIGTERM);
			st = attach_finish(&a);
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			assert_non_null(strstr(a.text, "detached from process"));
		} else {
			char spid[32];
			char *cmd[] = { (char *)bin_path("dise"), "attach", spid, "--detach-after", "1", NULL };
			const char *env[] = { f->env_ring, f->env_home, NULL };
			struct run_result r;

			snprintf(spid, sizeof(spid), "%d", (int)t.pid);
			assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
			assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
			assert_non_null(strstr(r.err, "detached from process"));
			run_result_free(&r);
		}
		snprintf(path, sizeof(path), "/proc/%d/status", (int)t.pid);
		s = fopen(path, "r");
		assert_non_null(s);
		while (fgets(buf, sizeof(buf), s))
			if (!strncmp(buf, "TracerPid:", 10))
				traced = atoi(buf + 10);
		fclose(s);
		assert_int_equal(traced, 0);
		st = target_finish(&t, "exit 3");
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
		pids[k] = t.pid;
	}
	/* the runs say "detached", not "vanished": ending unwatched is not a failure, and no strike */
	settle(f);
	for (k = 0; k < 2; k++)
		assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'detached'", (int)pids[k]),
				 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM failures"), 0);
}

/* Who traces pid: its TracerPid, or -1. */
static int tracer_of(pid_t pid)
{
	char path[64], buf[4096];
	int traced = -1;
	FILE *s;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(s = fopen(path, "r")))
		return -1;
	while (fgets(buf, sizeof(buf), s))
		if (!strncmp(buf, "TracerPid:", 10))
			traced = atoi(buf + 10);
	fclose(s);
	return traced;
}

/*
 * SIGTERM the moment the target is seized, while dise attach is still
 * starting the collector and opening the ring: it detaches (it used to die
 * there, leaving no DETACHED record), and the collector it started does not
 * inherit the stop signals blocked (the teardown stops it with SIGTERM).
 */
static void test_attach_sigterm_while_starting(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	struct attacher a;
	struct target t;
	int st;

	target_start(&t, argv, 1);
	attach_spawn(f, &a, t.pid, NULL, NULL);
	assert_true(wait_for(tracer_of(t.pid) == a.pid, WAIT_MS));
	kill(a.pid, SIGTERM);
	st = attach_finish(&a);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(a.text, "detached from process"));
	assert_int_equal(tracer_of(t.pid), 0);
	st = target_finish(&t, "exit 3");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'detached'", (int)t.pid), 1);
}

/* Does pid run the program at path (after its exec)? */
static int runs_exe(pid_t pid, const char *path)
{
	char proc[64], exe[4096], want[4096];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)pid);
	n = readlink(proc, exe, sizeof(exe) - 1);
	if (n <= 0 || !realpath(path, want))
		return 0;
	exe[n] = '\0';
	return !strcmp(exe, want);
}

/*
 * coreutils' sleep, attached: SIGSTOP stops it as its parent sees it
 * (WUNTRACED), SIGCONT resumes it, SIGTERM ends it with that status; the run
 * is a failure with signal 15 and no crash.
 */
static void test_attach_sleep_stop_cont(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/bin/sleep", "30", NULL };
	struct target t;
	struct attacher a;
	int st;

	target_start(&t, argv, 0);
	/* attached to sleep itself, not to the test's child before its exec */
	if (!wait_for(runs_exe(t.pid, argv[0]), WAIT_MS))
		fail_msg("%d never ran %s", (int)t.pid, argv[0]);
	attach_start(f, &a, t.pid, NULL);
	kill(t.pid, SIGSTOP);
	assert_int_equal(waitpid(t.pid, &st, WUNTRACED), t.pid);
	assert_true(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
	kill(t.pid, SIGCONT);
	assert_int_equal(waitpid(t.pid, &st, WCONTINUED), t.pid);
	assert_true(WIFCONTINUED(st));
	kill(t.pid, SIGTERM);
	st = target_finish(&t, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	assert_true(WIFEXITED(attach_finish(&a)));
	assert_non_null(strstr(a.text, "was killed by SIGTERM"));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND tool LIKE '%%/sleep' AND outcome = 'fail' "
				      "AND signal = 15", (int)t.pid),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes"), 0);
}

/* A python3 loop serving lines on stdin: attached, it answers byte for byte as before and exits with its code. */
static void test_attach_python_loop(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/usr/bin/env", "python3", "-c",
			 "import sys\n"
			 "print('ready', flush=True)\n"
			 "for line in sys.stdin:\n"
			 "    if line.startswith('exit'):\n"
			 "        sys.exit(int(line.split()[1]))\n"
			 "    print(line.strip().upper(), flush=True)\n",
			 NULL };
	char line[256];
	struct target t;
	struct attacher a;
	int st, i;

	target_start(&t, argv, 0);
	assert_non_null(fgets(line, sizeof(line), t.out));
	assert_string_equal(line, "ready\n");
	attach_start(f, &a, t.pid, NULL);
	for (i = 0; i < 3; i++) {
		assert_int_equal(write(t.in, "hello dise\n", 11), 11);
		assert_non_null(fgets(line, sizeof(line), t.out));
		assert_string_equal(line, "HELLO DISE\n");
	}
	st = target_finish(&t, "exit 3");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	assert_true(WIFEXITED(attach_finish(&a)));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND tool LIKE '%%/python3%%' "
				      "AND outcome = 'fail' AND exit_status = 3 AND argv LIKE '%%sys.stdin%%'",
				   (int)t.pid),
			 1);
}

/* A program whose file was deleted while it runs (an upgrade in place): its run still carries the tool's name. */
static void test_attach_deleted_exe(void **state)
{
	struct fixture *f = *state;
	char path[4200], cmd[8500];
	char *argv[] = { path, NULL };
	struct target t;
	struct attacher a;
	int st;

	snprintf(path, sizeof(path), "%s/gone-waiter", f->dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", prog_path("waiter"), path);
	assert_int_equal(system(cmd), 0);
	target_start(&t, argv, 1);
	assert_int_equal(unlink(path), 0);
	attach_start(f, &a, t.pid, NULL);
	st = target_finish(&t, "exit 5");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 5);
	assert_true(WIFEXITED(attach_finish(&a)));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND tool LIKE '%%/gone-waiter' "
				      "AND outcome = 'fail' AND exit_status = 5", (int)t.pid),
			 1);
}

/* A #! script, attached: named by the script as under the shim (not by its interpreter), its version the script's. */
static void test_attach_script(void **state)
{
	struct fixture *f = *state;
	char path[4200], line[64];
	char *argv[] = { path, NULL };
	struct target t;
	struct attacher a;
	FILE *sc;
	int st;

	snprintf(path, sizeof(path), "%s/slow-script", f->dir);
	sc = fopen(path, "w");
	assert_non_null(sc);
	fputs("#!/bin/sh\necho ready\nread x\nexit 4\n", sc);
	fclose(sc);
	assert_int_equal(chmod(path, 0755), 0);
	target_start(&t, argv, 0);
	assert_non_null(fgets(line, sizeof(line), t.out));
	attach_start(f, &a, t.pid, NULL);
	st = target_finish(&t, "go");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 4);
	assert_true(WIFEXITED(attach_finish(&a)));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id "
				      "WHERE r.pid = %d AND r.tool LIKE '%%/slow-script' AND r.outcome = 'fail' "
				      "AND r.exit_status = 4 AND v.tool LIKE '%%/slow-script'", (int)t.pid),
			 1);
}

/*
 * Attached runs count as strikes like preloaded ones: three attached
 * crashes of the same waiter judge its version (here no ancestor exists:
 * nothing to compare to or route to, the version is marked failing).
 */
static void test_attach_three_strikes(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(waiter_attached(f, "thread-segv", NULL, NULL)));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				      "WHERE v.tool LIKE '%%/waiter' AND x.detector = 'no_baseline'"),
			 1);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM versions WHERE tool LIKE '%%/waiter' AND health = 'failing'"), 1);
}

/*
 * Threads made and ended in quick succession while attached (each a new
 * traced task), then a crash on one more: nothing hangs, the status is the
 * unattached one. And a detach in the middle of a flood of signals to a
 * handler loses none: the waiter counts them and exits 3 if one is missing.
 */
static void test_attach_churn_and_signal_flood(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	struct target t;
	struct attacher a;
	char line[64];
	int st, want = plain_status("churn 2000");

	target_start(&t, argv, 1);
	attach_start(f, &a, t.pid, NULL);
	st = target_finish(&t, "churn 2000");
	assert_int_equal(st, want);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	assert_true(WIFEXITED(attach_finish(&a)));
	assert_non_null(strstr(a.text, "waiter_crash_thread"));

	/* a detach lands on a signal stop about one time in three: five tries */
	for (int k = 0; k < 5; k++) {
		target_start(&t, argv, 1);
		attach_start(f, &a, t.pid, NULL);
		assert_int_equal(write(t.in, "signals 100000\n", 15), 15);
		/* inside the flood: the waiter says so after 100 of its 100 000 signals */
		assert_non_null(fgets(line, sizeof(line), t.out));
		assert_string_equal(line, "flooding\n");
		kill(a.pid, SIGTERM);
		st = attach_finish(&a);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_non_null(strstr(a.text, "detached from process"));
		st = target_finish(&t, NULL);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0); /* every SIGUSR1 reached the handler */
	}
}

/*
 * The main thread ended (pthread_exit) and the others run on: its leader is
 * a zombie that can no longer stop. Detaching must not wait for it, and a
 * later crash on another thread is recorded, with the other stacks printed,
 * without waiting for it either. Attaching after the main thread ended
 * works through the other threads (the leader cannot be traced).
 */
/* Is the leader of pid a zombie (its process shows State: Z while other threads run)? */
static int leader_zombie(pid_t pid)
{
	char path[64], line[128];
	FILE *fp;
	int z = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "State:", 6)) {
			z = strchr(line, 'Z') != NULL;
			break;
		}
	fclose(fp);
	return z;
}

static void wait_zombie_leader(pid_t pid)
{
	if (!wait_for(leader_zombie(pid), WAIT_MS))
		fail_msg("the leader of %d never became a zombie", (int)pid);
}

static void test_attach_zombie_leader(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	struct target t;
	struct attacher a;
	int st;

	/* detaching while the leader is a zombie */
	target_start(&t, argv, 1);
	attach_start(f, &a, t.pid, NULL);
	assert_int_equal(write(t.in, "leader-exit\n", 12), 12);
	wait_zombie_leader(t.pid);
	kill(a.pid, SIGTERM);
	st = attach_finish(&a); /* would hang here, waiting for the zombie leader to stop */
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	kill(t.pid, SIGKILL);
	st = target_finish(&t, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* a crash on another thread while the leader is a zombie (the waiter crashes when its stdin closes) */
	target_start(&t, argv, 1);
	attach_start(f, &a, t.pid, NULL);
	assert_int_equal(write(t.in, "leader-exit-crash\n", 18), 18);
	wait_zombie_leader(t.pid);
	st = target_finish(&t, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = attach_finish(&a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(a.text, "waiter_crash_thread"));
	assert_non_null(strstr(a.text, "was killed by SIGSEGV"));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'crash'", (int)t.pid), 1);

	/* attached after the main thread ended: followed through the others, named, its crash and end recorded */
	target_start(&t, argv, 1);
	assert_int_equal(write(t.in, "leader-exit-crash\n", 18), 18);
	wait_zombie_leader(t.pid);
	attach_start(f, &a, t.pid, NULL);
	assert_non_null(strstr(a.text, "watching process"));
	assert_true(leader_zombie(t.pid)); /* it was attached to as such */
	st = target_finish(&t, NULL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = attach_finish(&a);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(a.text, "waiter_crash_thread"));
	assert_non_null(strstr(a.text, "was killed by SIGSEGV"));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM runs WHERE pid = %d AND tool LIKE '%%/waiter' AND outcome = 'crash' "
				      "AND signal = 11", (int)t.pid),
			 1);
}

/*
 * A static program (no shim can watch it) crashing on a thread: recorded,
 * and unwound past the faulting frame although gcc -static wrote no
 * .eh_frame_hdr (the table is built from .eh_frame).
 */
static void test_attach_static(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("static-waiter"), NULL };
	struct target t;
	struct attacher a;
	int st;

	target_start(&t, argv, 1);
	attach_start(f, &a, t.pid, NULL);
	st = target_finish(&t, "thread-segv");
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	assert_true(WIFEXITED(attach_finish(&a)));
	assert_non_null(strstr(a.text, " waiter_crash_thread+"));
	assert_non_null(strstr(a.text, " crash_main+"));
	settle(f);
	assert_int_equal(count_sql(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
				      "AND r.tool LIKE '%%/static-waiter' AND c.frames LIKE '%%\"crash_main\"%%'",
				   (int)t.pid),
			 1);
}

/* --stack: every thread's stack, symbolized; the target goes on untouched. */
static void test_attach_stack(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	char spid[32];
	char *cmd[] = { (char *)bin_path("dise"), "attach", spid, "--stack", NULL };
	const char *env[] = { f->env_ring, f->env_home, NULL };
	struct target t;
	struct run_result r;
	const char *p;
	int threads = 0, st;

	target_start(&t, argv, 1);
	snprintf(spid, sizeof(spid), "%d", (int)t.pid);
	assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	for (p = r.out; (p = strstr(p, "\nTID ")); p++)
		threads++;
	assert_int_equal(threads, 3);
	assert_non_null(strstr(r.out, " main+"));
	assert_non_null(strstr(r.out, " idle_main+"));
	run_result_free(&r);
	st = target_finish(&t, "exit 4");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 4);
}

/*
 * A process the shim watches, started with DISE_PTRACER=any (what lets an
 * unprivileged `dise attach` in where Yama's ptrace_scope is 1): following it
 * is refused (its runs are recorded already), --stack works, and it runs on
 * as it would.
 */
static void test_attach_watched_process(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	char pre[4200], spid[32];
	char *env[] = { pre, f->env_ring, "DISE_PTRACER=any", NULL };
	char *follow[] = { (char *)bin_path("dise"), "attach", spid, NULL };
	char *stack[] = { (char *)bin_path("dise"), "attach", spid, "--stack", NULL };
	const char *denv[] = { f->env_ring, f->env_home, NULL };
	struct target t;
	struct run_result r;

	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", shim_path());
	target_start_env(&t, argv, 1, env);
	snprintf(spid, sizeof(spid), "%d", (int)t.pid);
	assert_int_equal(run_cmd(follow, denv, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "already watched by the dise shim"));
	run_result_free(&r);
	assert_int_equal(run_cmd(stack, denv, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 0);
	assert_non_null(strstr(r.out, " main+"));
	run_result_free(&r);
	assert_int_equal(WEXITSTATUS(target_finish(&t, "exit 6")), 6);
}

/*
 * Clear errors: no such process, a thread id, already traced, a tracer
 * itself, another user's process (watched by the shim: below).
 */
static void test_attach_errors(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("waiter"), NULL };
	const char *env[] = { f->env_ring, f->env_home, NULL };
	char spid[32];
	char *cmd[] = { (char *)bin_path("dise"), "attach", spid, NULL };
	struct target t;
	struct attacher a;
	struct run_result r;

	snprintf(spid, sizeof(spid), "%d", 0x3ffffff0);
	assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "no such process"));
	run_result_free(&r);

	target_start(&t, argv, 1);
	attach_start(f, &a, t.pid, NULL);
	snprintf(spid, sizeof(spid), "%d", (int)t.pid);
	assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "already traced by process"));
	run_result_free(&r);
	{
		/* a thread of the target */
		char path[64], line[64];
		FILE *d;

		snprintf(path, sizeof(path), "ls /proc/%d/task | sort -n | tail -1", (int)t.pid);
		d = popen(path, "r");
		assert_non_null(fgets(line, sizeof(line), d));
		pclose(d);
		snprintf(spid, sizeof(spid), "%d", atoi(line));
		assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
		assert_int_equal(WEXITSTATUS(r.status), 1);
		assert_non_null(strstr(r.err, "is a thread of process"));
		run_result_free(&r);
	}
	kill(a.pid, SIGTERM);
	attach_finish(&a);
	assert_int_equal(WEXITSTATUS(target_finish(&t, "exit 0")), 0);

	{
		/* a process that is a tracer itself: dise would take its children from it */
		char line[64];

		target_start(&t, argv, 1);
		assert_int_equal(write(t.in, "trace-child\n", 12), 12);
		assert_non_null(fgets(line, sizeof(line), t.out));
		assert_int_equal(strncmp(line, "tracing ", 8), 0);
		snprintf(spid, sizeof(spid), "%d", (int)t.pid);
		assert_int_equal(run_cmd(cmd, env, NULL, &r), 0);
		assert_int_equal(WEXITSTATUS(r.status), 1);
		assert_non_null(strstr(r.err, "(a debugger or tracer)"));
		run_result_free(&r);
		assert_int_equal(WEXITSTATUS(target_finish(&t, NULL)), 0);
	}

	if (geteuid() == 0) {
		/* another user's process: attach as nobody to ours */
		pid_t c;
		int st;

		target_start(&t, argv, 1);
		snprintf(spid, sizeof(spid), "%d", (int)t.pid);
		c = fork();
		if (c == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			char errpath[4200];
			int fd;

			snprintf(errpath, sizeof(errpath), "%s/attach-err", f->dir);
			fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0666);
			dup2(fd, 2);
			dup2(devnull, 1);
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(99);
			execv(cmd[0], cmd);
			_exit(127);
		}
		waitpid(c, &st, 0);
		if (WEXITSTATUS(st) != 99) {
			char errpath[4200], text[1024] = "";
			FILE *e;

			assert_int_equal(WEXITSTATUS(st), 1);
			snprintf(errpath, sizeof(errpath), "%s/attach-err", f->dir);
			e = fopen(errpath, "r");
			assert_non_null(e);
			assert_non_null(fgets(text, sizeof(text), e));
			fclose(e);
			assert_non_null(strstr(text, "permission denied"));
		}
		assert_int_equal(WEXITSTATUS(target_finish(&t, "exit 0")), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_thread_crash, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_endings, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_wakes_for_ends, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_fork_and_exec, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_spawns, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_short_children, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_pid_reused, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_detach, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_stack, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_sigterm_while_starting, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_sleep_stop_cont, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_python_loop, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_deleted_exe, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_static, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_script, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_three_strikes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_zombie_leader, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_churn_and_signal_flood, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_errors, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_watched_process, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
