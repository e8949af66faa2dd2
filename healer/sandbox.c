/* SPDX-License-Identifier: MIT */
/*
 * The validation sandbox (sandbox.h). A candidate is code nobody reviewed:
 * it runs as `bwrap --unshare-all` (no network, its own pid, ipc and uts
 * namespaces, killed with the collector), / read-only, /dev and /proc of
 * its own, a private /tmp, only the scratch tree writable, and a shell
 * inside sets the limits before exec: CPU time, address space, file size.
 * The wait, the time limit and the kill of its process group are
 * dise_validate_spawn()'s; bwrap's pid namespace takes every process the
 * candidate forked down with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "store.h"
#include "validate.h"

#define BWRAP "/usr/bin/bwrap"
/* the limits inside: 60 s of CPU, 2 GiB of address space, files up to 64 MiB */
#define LIMITS "ulimit -t 60 && ulimit -v 2097152 && ulimit -f 131072 || exit 125; exec \"$@\""

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int dise_sandbox_run(const char *scratch, const char *exe, char *const argv[], const char *cwd, const char *extra_env,
		     unsigned timeout_ms, int *status, int64_t *wall_ns)
{
	const char *head[] = { "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
			       "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp" };
	size_t nh = sizeof(head) / sizeof(head[0]), na = 0, k = 0, i;
	char **v;
	int64_t t0;
	int r;

	if (cwd && access(cwd, X_OK) < 0)
		cwd = NULL;
	while (argv && argv[na])
		na++;
	v = calloc(nh + na + 16, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < nh; i++)
		v[k++] = (char *)head[i];
	if (cwd) { /* under /tmp, the private one would hide it: bound back, read-only */
		v[k++] = "--ro-bind";
		v[k++] = (char *)cwd;
		v[k++] = (char *)cwd;
	}
	v[k++] = "--bind";
	v[k++] = (char *)scratch;
	v[k++] = (char *)scratch;
	v[k++] = "--chdir";
	v[k++] = (char *)(cwd ? cwd : scratch);
	v[k++] = "--";
	v[k++] = "/bin/sh";
	v[k++] = "-c";
	v[k++] = LIMITS;
	v[k++] = "dise-sandbox";
	v[k++] = (char *)exe;
	for (i = 1; i < na; i++)
		v[k++] = argv[i];
	t0 = mono_ns();
	r = dise_validate_spawn(BWRAP, v, NULL, extra_env, timeout_ms, status);
	*wall_ns = mono_ns() - t0;
	free(v);
	return r;
}

int dise_sandbox_check(char *why, size_t size)
{
	char dir[] = "/tmp/dise-sandbox-XXXXXX", *argv[] = { "true", NULL };
	int64_t wall;
	int st = 0, r;

	if (access(BWRAP, X_OK) < 0) {
		snprintf(why, size, "%s is not installed (Debian package bubblewrap): generated code is not run", BWRAP);
		return -ENOENT;
	}
	if (!mkdtemp(dir)) {
		r = -errno;
		snprintf(why, size, "no scratch directory for the sandbox check: %s", strerror(errno));
		return r;
	}
	r = dise_sandbox_run(dir, "/bin/true", argv, NULL, NULL, 10000, &st, &wall);
	rmdir(dir);
	if (r == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -EPERM;
	if (r < 0)
		snprintf(why, size, "bwrap cannot make a sandbox here (user namespaces?): generated code is not run");
	return r;
}

int dise_sandbox_ended_like(const struct dise_replay *t, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;

	/* both readings: a pass is never granted on an ambiguity */
	return dise_validate_fails_like(t, status) || (code > 128 && code < 128 + 65 && dise_validate_fails_like(t, code - 128));
}
