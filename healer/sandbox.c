/* SPDX-License-Identifier: MIT */
/*
 * The validation sandbox (sandbox.h). A candidate is code nobody reviewed:
 * it runs as `bwrap --unshare-all` (no network, its own pid, ipc and uts
 * namespaces, killed with the collector), / read-only, /dev and /proc of
 * its own, a private /tmp, only the scratch tree writable, and a shell
 * inside sets the limits before exec: CPU time, address space, file size;
 * the process count is a pids cgroup of its own where one can be made
 * (pids.max: a fork bomb ends there, not at the time limit).
 * The wait, the time limit and the kill of its process group are
 * dise_validate_spawn()'s; bwrap's pid namespace takes every process the
 * candidate forked down with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "store.h"
#include "validate.h"

#define BWRAP "/usr/bin/bwrap"
/* the limits inside: 60 s of CPU, 2 GiB of address space, files up to 64 MiB */
#define LIMITS "ulimit -t 60 && ulimit -v 2097152 && ulimit -f 131072 || exit 125; exec \"$@\""
/*
 * Without a pids cgroup: RLIMIT_NPROC (dash's ulimit -p), which binds a
 * user but not uid 0 (the kernel exempts root from it, whatever the
 * capabilities): there, only the time limit and the pid namespace hold.
 */
#define LIMITS_NPROC "ulimit -p " PIDS_MAX_S " 2>/dev/null; " LIMITS
/* The process count of one sandboxed run, threads included (a pids cgroup): a fork bomb stops here */
#define PIDS_MAX 512
#define PIDS_MAX_S "512"
/* Moves this shell (bwrap after exec) into the run's cgroup: $1 its cgroup.procs */
#define ENTER_CG "echo $$ > \"$1\" || exit 125; shift; exec \"$@\""

static _Thread_local const char *last_limit;

const char *dise_sandbox_last_limit(void)
{
	return last_limit;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the comma list of controllers list has name. */
static int has_controller(const char *list, size_t len, const char *name)
{
	size_t n = strlen(name);

	while (len) {
		size_t k = 0;

		while (k < len && list[k] != ',' && list[k] != ' ' && list[k] != '\n')
			k++;
		if (k == n && !strncmp(list, name, n))
			return 1;
		list += k + (k < len), len -= k + (k < len);
	}
	return 0;
}

/* The file at path's first bytes into buf (NUL-ended); its length, or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * Where this process may make a pids cgroup: its own cgroup in the v1 pids
 * hierarchy (/sys/fs/cgroup/pids), or in cgroup v2 (/sys/fs/cgroup, or its
 * unified/ beside v1) when pids is delegated to its children there and it
 * can write it. Into buf; 0, or -ENOENT.
 */
static int pids_parent(char *buf, size_t size)
{
	static const char *const v2[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char text[8192], ctl[512], *line, *save = NULL;
	ssize_t n = read_small("/proc/self/cgroup", text, sizeof(text));

	for (line = n > 0 ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
		size_t i;

		if (!b)
			continue;
		if (has_controller(a + 1, (size_t)(b - a - 1), "pids")) {
			if ((size_t)snprintf(buf, size, "/sys/fs/cgroup/pids%s", b + 1) < size && access(buf, W_OK) == 0)
				return 0;
			continue;
		}
		for (i = 0; b == a + 1 && i < sizeof(v2) / sizeof(v2[0]); i++) {
			if ((size_t)snprintf(buf, size, "%s%s/cgroup.subtree_control", v2[i], b + 1) >= size ||
			    read_small(buf, ctl, sizeof(ctl)) < 0 || !has_controller(ctl, strlen(ctl), "pids"))
				continue;
			snprintf(buf, size, "%s%s", v2[i], b + 1);
			if (access(buf, W_OK) == 0)
				return 0;
		}
	}
	return -ENOENT;
}

/* A new pids cgroup for one run, at most PIDS_MAX tasks, into path. 0 or -errno (none here). */
static int pids_make(char *path, size_t size)
{
	static unsigned seq;
	char parent[PATH_MAX], max[PATH_MAX + 64];
	int fd, r;

	if ((r = pids_parent(parent, sizeof(parent))) < 0)
		return r;
	if ((size_t)snprintf(path, size, "%s/dise-sandbox-%d-%u", parent, (int)getpid(),
			     __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED)) >= size)
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) < 0)
		return -errno;
	snprintf(max, sizeof(max), "%s/pids.max", path);
	fd = open(max, O_WRONLY | O_CLOEXEC);
	r = fd < 0 || write(fd, PIDS_MAX_S, strlen(PIDS_MAX_S)) < 0 ? -errno : 0;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		rmdir(path);
	return r;
}

/* After a run: whether its cgroup hit its limit, what is left in it killed, the cgroup removed. */
static int pids_end(const char *path)
{
	char file[PATH_MAX + 64], text[4096], *c;
	int hit, tries;

	snprintf(file, sizeof(file), "%s/pids.events", path);
	hit = read_small(file, text, sizeof(text)) > 0 && (c = strstr(text, "max ")) && atoll(c + 4) > 0;
	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	for (tries = 0; tries < 200 && rmdir(path) < 0 && errno == EBUSY; tries++) {
		struct timespec nap = { 0, 10000000 };

		if (read_small(file, text, sizeof(text)) > 0)
			for (c = text; *c; c = strchr(c, '\n') ? strchr(c, '\n') + 1 : c + strlen(c))
				if (atoi(c) > 0)
					kill(atoi(c), SIGKILL);
		nanosleep(&nap, NULL); /* the killed tasks' exits: no event to wait for but the cgroup emptying */
	}
	return hit;
}

int dise_sandbox_has_pids_limit(void)
{
	char cg[PATH_MAX];

	if (pids_make(cg, sizeof(cg)) < 0)
		return 0;
	rmdir(cg);
	return 1;
}

int dise_sandbox_run(const char *scratch, const char *exe, char *const argv[], const char *cwd, const char *extra_env,
		     unsigned timeout_ms, int *status, int64_t *wall_ns)
{
	return dise_sandbox_run_ro(scratch, NULL, exe, argv, cwd, extra_env, timeout_ms, status, wall_ns);
}

int dise_sandbox_run_ro(const char *scratch, const char *ro, const char *exe, char *const argv[], const char *cwd,
			const char *extra_env, unsigned timeout_ms, int *status, int64_t *wall_ns)
{
	const char *head[] = { "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
			       "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp" };
	size_t nh = sizeof(head) / sizeof(head[0]), na = 0, k = 5, i;
	char **v, cg[PATH_MAX], procs[PATH_MAX + 16];
	int64_t t0;
	int r, has_cg = pids_make(cg, sizeof(cg)) == 0;

	if (cwd && access(cwd, X_OK) < 0)
		cwd = NULL;
	while (argv && argv[na])
		na++;
	v = calloc(nh + na + 24, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < nh; i++)
		v[k++] = (char *)head[i];
	if (cwd) { /* under /tmp, the private one would hide it: bound back, read-only */
		v[k++] = "--ro-bind";
		v[k++] = (char *)cwd;
		v[k++] = (char *)cwd;
	}
	if (ro && access(ro, F_OK) == 0) { /* a directory the run reads from, maybe under /tmp: bound back, read-only */
		v[k++] = "--ro-bind";
		v[k++] = (char *)ro;
		v[k++] = (char *)ro;
	}
	v[k++] = "--bind";
	v[k++] = (char *)scratch;
	v[k++] = (char *)scratch;
	v[k++] = "--chdir";
	v[k++] = (char *)(cwd ? cwd : scratch);
	v[k++] = "--";
	v[k++] = "/bin/sh";
	v[k++] = "-c";
	v[k++] = has_cg ? LIMITS : LIMITS_NPROC;
	v[k++] = "dise-sandbox";
	v[k++] = (char *)exe;
	for (i = 1; i < na; i++)
		v[k++] = argv[i];
	if (has_cg) { /* sh -c ENTER_CG sh CG/cgroup.procs bwrap ... */
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
		v[0] = "sh", v[1] = "-c", v[2] = ENTER_CG, v[3] = "dise-sandbox", v[4] = procs, v[5] = BWRAP;
	}
	last_limit = NULL;
	t0 = mono_ns();
	r = dise_validate_spawn(has_cg ? "/bin/sh" : BWRAP, has_cg ? v : v + 5, NULL, extra_env, timeout_ms, status);
	*wall_ns = mono_ns() - t0;
	if (has_cg && pids_end(cg))
		last_limit = "the process limit (" PIDS_MAX_S " tasks) was reached";
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
