/* SPDX-License-Identifier: MIT */
/*
 * `dise collector start|stop|status`. The collector's lock file
 * ($DISE_HOME/collector.lock) is the truth: it is running exactly while
 * someone holds the flock on it, and the file holds its pid once it is
 * ready (empty while it starts).
 *
 * `start` returns when the collector is ready: `dise-collectord --daemon`
 * exits only then (0), or with the daemon's error. A collector someone else
 * is starting at the same moment is waited for the same way, through the
 * lock file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"

/* The pid of the running collector, 0 when none runs, or -errno. */
static int running_pid(const char *lock)
{
	char buf[32] = "";
	struct stat st;
	int fd = dise_open_regular(lock, 1, &st), pid; /* never waits on a FIFO */

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* nobody holds it */
		close(fd);
		return 0;
	}
	(void)!pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	pid = atoi(buf);
	return pid > 0 ? pid : -EAGAIN; /* locked, pid not written yet */
}

static void nap_ms(int ms)
{
	struct timespec ts = { 0, (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* A collector another process is starting: its pid once ready (60 s at most), 0 if it ended, or -errno. */
static int wait_started(const char *lock)
{
	int i, pid = running_pid(lock);

	for (i = 0; i < 6000 && pid == -EAGAIN; i++) {
		nap_ms(10);
		pid = running_pid(lock);
	}
	return pid;
}

static int start(const char *lock, int quiet)
{
	char daemon[PATH_MAX + 32];
	pid_t child;
	int st, r, pid = running_pid(lock);

	if (pid == -EAGAIN) /* starting: not ready yet */
		pid = wait_started(lock);
	if (pid > 0) {
		if (!quiet)
			dise_cli_print(stdout, "collector already running (pid %d)\n", pid);
		return 0;
	}
	if ((r = dise_cli_sibling("dise-collectord", daemon, sizeof(daemon))) < 0)
		return dise_cli_error(r, "cannot find dise-collectord");
	child = fork();
	if (child < 0)
		return dise_cli_error(-errno, "fork");
	if (child == 0) {
		sigset_t none;

		/* the daemon starts with no signal blocked, whatever its starter blocks (dise attach blocks its
		   stop signals from the seize on, to read them from a signalfd) */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(daemon, daemon, "--daemon", (char *)NULL);
		_exit(127);
	}
	/* --daemon detaches, and its first process exits when the daemon is ready (0) or could not start */
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return dise_cli_error(-errno, "waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) { /* another start won the lock: report that collector */
		pid = wait_started(lock);
		if (pid > 0) {
			if (!quiet)
				dise_cli_print(stdout, "collector already running (pid %d)\n", pid);
			return 0;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* the reason is on stderr already, from dise-collectord */
		dise_cli_print(stderr, "dise: '%s' failed to start (status %d)\n", daemon, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return 1;
	}
	pid = running_pid(lock); /* written before it said ready: the new collector's */
	if (pid <= 0) {
		dise_cli_print(stderr, "dise: the collector said it was ready, then ended\n");
		return 1;
	}
	if (!quiet)
		dise_cli_print(stdout, "collector started (pid %d)\n", pid);
	return 0;
}

int dise_cli_collector_ensure(void)
{
	char home[4096], lock[4200];
	int r = dise_home(home, sizeof(home));

	if (r < 0 || dise_path_join(lock, sizeof(lock), home, "collector.lock") < 0)
		return dise_cli_error(r < 0 ? r : -ENAMETOOLONG, "state directory");
	return start(lock, 1);
}

static int stop(const char *lock)
{
	int i, pid = running_pid(lock);

	if (pid == 0) {
		dise_cli_print(stdout, "collector not running\n");
		return 0;
	}
	if (pid < 0)
		return dise_cli_error(pid, "cannot tell whether the collector runs");
	if (kill(pid, SIGTERM) < 0)
		return dise_cli_error(-errno, "cannot stop pid %d", pid);
	for (i = 0; i < 500 && running_pid(lock) > 0; i++)
		nap_ms(10);
	if (running_pid(lock) > 0) {
		dise_cli_print(stderr, "dise: the collector (pid %d) did not stop within 5 s\n", pid);
		return 1;
	}
	dise_cli_print(stdout, "collector stopped\n");
	return 0;
}

int dise_cli_collector(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	char home[4096], lock[4200];
	const char *verb;
	int r, pid;

	while (dise_cli_getopt(argc, argv, NULL, DISE_CLI_PERMUTE, cmd) != -1)
		;
	verb = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	if (strcmp(verb, "start") && strcmp(verb, "stop") && strcmp(verb, "status"))
		dise_cli_usage_error(cmd, "unknown collector command '%s' (start, stop, status)", verb);
	r = dise_home(home, sizeof(home));
	if (r < 0 || dise_path_join(lock, sizeof(lock), home, "collector.lock") < 0)
		return dise_cli_error(r < 0 ? r : -ENAMETOOLONG, "state directory");
	if (!strcmp(verb, "start"))
		return start(lock, 0);
	if (!strcmp(verb, "stop"))
		return stop(lock);
	pid = running_pid(lock);
	if (pid == -EINVAL) {
		dise_cli_print(stderr, "dise: '%s' is not a regular file\n", lock);
		return 1;
	}
	if (pid > 0)
		dise_cli_print(stdout, "collector running (pid %d), state in %s\n", pid, home);
	else
		dise_cli_print(stdout, "collector not running, state in %s\n", home);
	/* running is not enough: one that cannot store says so, and status fails */
	if (dise_cli_collector_error(home, stdout) && pid > 0)
		return 1;
	return pid > 0 ? 0 : 3;
}
