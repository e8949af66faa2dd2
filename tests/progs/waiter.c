/* SPDX-License-Identifier: MIT */
/*
 * waiter: a long-running target for `dise attach`. Starts two idle threads,
 * prints "ready <pid>", then obeys one command line from stdin:
 *   thread-segv      crash with SIGSEGV in waiter_crash_thread() on a second thread
 *   rt-thread-segv   the same with a handler for SIGRTMAX (the top bit of SigCgt) installed first
 *   abort            abort() on the main thread
 *   exit N           exit with status N
 *   fork-exit N      fork a child that exits with N; wait for it; exit 0
 *   fork-segv        fork a child that crashes in waiter_crash_thread(); wait for it; exit 0
 *   fork-hold N      fork a child that _exits with N (N < 0: killed by signal -N); print "child PID";
 *                    reap it once stdin closes; exit 0
 *   exec PATH ARG    execv(PATH, {PATH, ARG})
 *   handled          SIGSEGV with a handler of its own that exits 42
 *   spin N           N rounds of arithmetic, no system call; prints the sum, exits 0
 *   sys N            N getppid() system calls; exits 0
 *   signals N        N raise(SIGUSR1) with a handler; exits 0 if the handler ran N times, else 3;
 *                    prints "flooding" after the first 100 (N > 100)
 *   churn N          N threads created and joined one after another, then a crash on one more
 *   trace-child      fork a child that asks to be traced (PTRACE_TRACEME) and stops;
 *                    print "tracing", wait for stdin to close, kill the child, exit 0
 *   leader-exit      the main thread ends (pthread_exit); the idle threads keep the process
 *   leader-exit-crash  the same, and a thread crashes once stdin closes (the caller
 *                    decides when: after it saw the leader a zombie, before or after attaching)
 *   spawn N          posix_spawn /bin/true N times (vfork-like clone, then exec), waiting for each; exit 0
 *   forks N          fork N children that _exit(0) at once, waiting for each; exit 0
 *   wait             read stdin until it closes, then exit 0
 * Until the command arrives it blocks in read(): attach, then send it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

extern char **environ;

/* Not static: the tests look for these names in the unwound frames. */
void waiter_crash_thread(void);
long waiter_spin(long n);

static volatile int *volatile nowhere;
static pthread_barrier_t go;

NOINLINE void waiter_crash_thread(void)
{
	*nowhere = 1;
	__asm__ volatile("" ::: "memory");
}

static void *crash_main(void *arg)
{
	(void)arg;
	waiter_crash_thread();
	return NULL;
}

static void *churn_main(void *arg)
{
	return arg;
}

static void *late_crash_main(void *arg)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin))
		;
	waiter_crash_thread();
	return arg;
}

static void *idle_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&go);
	for (;;)
		pause();
	return NULL;
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

NOINLINE long waiter_spin(long n)
{
	long s = 0, i;

	for (i = 0; i < n; i++)
		s += (i * 7) ^ (s >> 3);
	return s;
}

int main(void)
{
	char line[4096], *arg;
	pthread_t t;
	int i;

	pthread_barrier_init(&go, NULL, 3);
	for (i = 0; i < 2; i++)
		pthread_create(&t, NULL, idle_main, NULL);
	pthread_barrier_wait(&go);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	line[strcspn(line, "\n")] = '\0';
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "rt-thread-segv")) {
		signal(SIGRTMAX, on_usr1);
		strcpy(line, "thread-segv");
	}
	if (!strcmp(line, "thread-segv")) {
		pthread_create(&t, NULL, crash_main, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(line, "abort")) {
		abort();
	} else if (!strcmp(line, "exit") && arg) {
		exit(atoi(arg));
	} else if (!strcmp(line, "fork-exit") && arg) {
		int st;
		pid_t c = fork();

		if (c == 0)
			_exit(atoi(arg));
		waitpid(c, &st, 0);
		printf("child %d status %d\n", (int)c, st);
		return 0;
	} else if (!strcmp(line, "fork-hold") && arg) {
		int st, n = atoi(arg);
		pid_t c = fork();

		if (c == 0) {
			if (n < 0)
				raise(-n);
			_exit(n);
		}
		printf("child %d\n", (int)c);
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
		waitpid(c, &st, 0);
		return 0;
	} else if (!strcmp(line, "fork-segv")) {
		int st;
		pid_t c = fork();

		if (c == 0) {
			waiter_crash_thread();
			_exit(0);
		}
		waitpid(c, &st, 0);
		printf("child %d status %d\n", (int)c, st);
		return 0;
	} else if (!strcmp(line, "exec") && arg) {
		char *a = strchr(arg, ' ');

		if (a)
			*a++ = '\0';
		execl(arg, arg, a, (char *)NULL);
		return 127;
	} else if (!strcmp(line, "handled")) {
		signal(SIGSEGV, on_segv);
		waiter_crash_thread();
	} else if (!strcmp(line, "spin") && arg) {
		printf("%ld\n", waiter_spin(atol(arg)));
		return 0;
	} else if (!strcmp(line, "sys") && arg) {
		long n = atol(arg), k;

		for (k = 0; k < n; k++)
			syscall(SYS_getppid);
		return 0;
	} else if (!strcmp(line, "signals") && arg) {
		long n = atol(arg), k;

		signal(SIGUSR1, on_usr1);
		for (k = 0; k < n; k++) {
			if (n > 100 && k == 100) { /* for a test that must act in the middle of the flood */
				printf("flooding\n");
				fflush(stdout);
			}
			raise(SIGUSR1);
		}
		return usr1 == (sig_atomic_t)n ? 0 : 3;
	} else if (!strcmp(line, "churn") && arg) {
		long n = atol(arg), k;

		for (k = 0; k < n; k++) {
			pthread_create(&t, NULL, churn_main, NULL);
			pthread_join(t, NULL);
		}
		pthread_create(&t, NULL, crash_main, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(line, "trace-child")) {
		int st;
		pid_t c = fork();

		if (c == 0) {
			ptrace(PTRACE_TRACEME, 0, NULL, NULL);
			raise(SIGSTOP);
			_exit(0);
		}
		waitpid(c, &st, 0); /* its SIGSTOP: now a tracee of ours */
		printf("tracing %d\n", (int)c);
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		return 0;
	} else if (!strncmp(line, "leader-exit", 11)) {
		if (!strcmp(line, "leader-exit-crash"))
			pthread_create(&t, NULL, late_crash_main, NULL);
		pthread_exit(NULL);
	} else if (!strcmp(line, "spawn") && arg) {
		char *tr[] = { "/bin/true", NULL };
		long n = atol(arg), k;
		int st;

		for (k = 0; k < n; k++) {
			pid_t c;

			if (posix_spawn(&c, tr[0], NULL, NULL, tr, environ) != 0 || waitpid(c, &st, 0) != c || st != 0)
				return 4;
		}
		return 0;
	} else if (!strcmp(line, "forks") && arg) {
		long n = atol(arg), k;
		int st;

		for (k = 0; k < n; k++) {
			pid_t c = fork();

			if (c == 0)
				_exit(0);
			if (c < 0 || waitpid(c, &st, 0) != c || st != 0)
				return 4;
		}
		return 0;
	} else if (!strcmp(line, "wait")) {
		while (fgets(line, sizeof(line), stdin))
			;
		return 0;
	}
	fprintf(stderr, "waiter: unknown command '%s'\n", line);
	return 2;
}
