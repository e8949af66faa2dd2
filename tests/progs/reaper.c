/* SPDX-License-Identifier: MIT */
/*
 * reaper: every way a parent learns how its child ended, each printed
 * (pids left out, so that two runs print the same bytes): waitpid, wait,
 * wait(NULL), wait4 with rusage, wait3, waitid with and without a siginfo,
 * waitid WNOWAIT then waitpid, WNOHANG on a live child, ECHILD, a stop and
 * a continue (WUNTRACED, WCONTINUED), and waitpid from a SIGCHLD handler.
 * Children exit 3, 0, 7, 9, 11, 12, 13, 21 or are killed (SIGTERM, SIGKILL).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child(int code)
{
	pid_t c;

	fflush(stdout);
	c = fork();
	if (c < 0)
		exit(90);
	if (c == 0) {
		if (code < 0)
			for (;;)
				pause();
		_exit(code);
	}
	return c;
}

static void show(const char *what, pid_t r, pid_t c, int st, int err)
{
	printf("%s: %s status %#x errno %s\n", what, r == c ? "child" : r == 0 ? "0" : r < 0 ? "-1" : "other", st,
	       r < 0 ? strerrorname_np(err) : "-");
}

static volatile sig_atomic_t handled, handled_status;

static void on_chld(int sig)
{
	int st, e = errno;
	pid_t r;

	(void)sig;
	while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
		handled++;
		handled_status = st;
	}
	errno = e;
}

int main(void)
{
	struct rusage ru;
	siginfo_t si;
	pid_t c, r;
	int st;

	c = child(3);
	r = waitpid(c, &st, 0);
	show("waitpid", r, c, st, errno);

	c = child(-1);
	kill(c, SIGTERM);
	r = wait(&st);
	show("wait", r, c, st, errno);

	c = child(0);
	r = wait(NULL);
	show("wait(NULL)", r, c, 0, errno);

	c = child(7);
	memset(&ru, 0, sizeof(ru));
	r = wait4(c, &st, 0, &ru);
	show("wait4", r, c, st, errno);
	printf("wait4 rusage: %s\n", ru.ru_maxrss > 0 ? "filled" : "empty");

	c = child(9);
	r = wait3(&st, 0, NULL);
	show("wait3", r, c, st, errno);

	c = child(11);
	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)c, &si, WEXITED);
	printf("waitid: %d code %d status %d same pid %d\n", r, si.si_code, si.si_status, si.si_pid == c);

	c = child(12);
	r = waitid(P_PID, (id_t)c, NULL, WEXITED);
	printf("waitid(NULL): %d\n", r);

	c = child(13);
	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT);
	printf("waitid WNOWAIT: %d status %d\n", r, si.si_status);
	r = waitpid(c, &st, 0);
	show("waitpid after WNOWAIT", r, c, st, errno);

	c = child(-1);
	r = waitpid(c, &st, WNOHANG);
	show("waitpid WNOHANG", r, 1, 0, errno);
	kill(c, SIGKILL);
	r = waitpid(c, &st, 0);
	show("waitpid killed", r, c, st, errno);

	errno = 0;
	r = waitpid(-1, &st, 0);
	show("waitpid no child", r, 1, 0, errno);

	c = child(-1);
	kill(c, SIGSTOP);
	r = waitpid(c, &st, WUNTRACED);
	show("waitpid stopped", r, c, st, errno);
	kill(c, SIGCONT);
	r = waitpid(c, &st, WCONTINUED);
	show("waitpid continued", r, c, st, errno);
	kill(c, SIGKILL);
	r = waitpid(c, &st, 0);
	show("waitpid killed after stop", r, c, st, errno);

	{
		struct sigaction sa;
		sigset_t block, old;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_chld;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGCHLD, &sa, NULL);
		sigemptyset(&block);
		sigaddset(&block, SIGCHLD);
		sigprocmask(SIG_BLOCK, &block, &old);
		child(21);
		while (!handled)
			sigsuspend(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
		printf("SIGCHLD handler: reaped %d status %#x\n", (int)handled, (int)handled_status);
	}
	return 0;
}
