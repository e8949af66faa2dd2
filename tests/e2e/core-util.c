/* SPDX-License-Identifier: MIT */
/* What test-coredump and test-coredump-install share: real cores from the kernel, the sysctls put back (core-util.h). */
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


char saved_pattern[256], saved_limit[32];
int pattern_changed;

int read_line(const char *path, char *buf, size_t size)
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

int write_line(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f)
		return -1;
	r = fputs(v, f) < 0;
	return (fclose(f) != 0 || r) ? -1 : 0;
}

void restore_pattern(void)
{
	if (pattern_changed) {
		write_line(PATTERN, saved_pattern);
		write_line(PIPE_LIMIT, saved_limit);
		pattern_changed = 0;
	}
}

/* Cores as files named "core" in the crashing process's cwd (see the top). */
int cores_setup(void **state)
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

int cores_teardown(void **state)
{
	(void)state;
	restore_pattern();
	return 0;
}

void need_cores(void)
{
	char p[256];

	if (read_line(PATTERN, p, sizeof(p)) < 0 || strcmp(p, "core")) {
		print_message("kernel.core_pattern is not 'core' and cannot be set (not root?): no real cores to feed\n");
		skip();
	}
}

/*
 * Runs argv in dir with RLIMIT_CORE at its hard limit (the test is skipped when
 * that is 0) and env ("K=V", NULL-ended,
 * may be NULL) on a clean environment; asserts it dumped core. Returns the
 * core's path (malloc'ed), its pid in *ret_pid.
 */
char *make_core(const char *dir, char *const argv[], const char *const env[], pid_t *ret_pid)
{
	char path[4096];
	struct stat st;
	struct rlimit lim;
	int status;
	pid_t pid;

	/* the soft limit is raised to the hard one: a hard limit of 0 cannot be raised without CAP_SYS_RESOURCE */
	assert_int_equal(getrlimit(RLIMIT_CORE, &lim), 0);
	if (lim.rlim_max == 0) {
		print_message("core dumps are off for this test (RLIMIT_CORE hard limit 0, e.g. `ulimit -c 0` in the "
			      "shell that ran it): no core to make\n");
		skip();
	}
	lim.rlim_cur = lim.rlim_max;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t i;

		int null = open("/dev/null", O_WRONLY);

		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) /* a Go panic's pages of goroutines */
			_exit(125);
		clearenv();
		setenv("PATH", "/usr/bin:/bin", 1);
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (chdir(dir) < 0 || setrlimit(RLIMIT_CORE, &lim) < 0)
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

int same_file_prefix(const char *a, const char *b, off_t n)
{
	char cmd[8800];

	snprintf(cmd, sizeof(cmd), "cmp -s -n %lld '%s' '%s'", (long long)n, a, b);
	return system(cmd) == 0;
}

off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

char *scratch(struct fixture *f, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
	return p;
}

