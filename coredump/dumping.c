/* SPDX-License-Identifier: MIT */
/* /proc/PID of the dumping process (proc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumping.h"
#include "proc.h" /* record/ */
#include "record.h"

#define PACKED_MAX (1u << 17)

static size_t read_packed(pid_t pid, const char *what, char **ret)
{
	char path[64];
	char *buf = malloc(PACKED_MAX);
	ssize_t n;

	*ret = buf;
	if (!buf)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	n = dise_read_small(path, buf, PACKED_MAX);
	return n > 0 ? (size_t)n : 0;
}

static void link_of(pid_t pid, const char *what, char *buf, size_t size)
{
	static const char deleted[] = " (deleted)";
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (n > (ssize_t)sizeof(deleted) && !strcmp(buf + n - (sizeof(deleted) - 1), deleted))
		buf[n - (sizeof(deleted) - 1)] = '\0';
}

/* "Uid:\tr e s fs" and the like: the n numbers after name. */
static int status_nums(const char *status, const char *name, unsigned long *v, int n)
{
	const char *p = strstr(status, name);
	int k = 0;

	if (!p)
		return 0;
	p += strlen(name);
	while (k < n) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		v[k++] = strtoul(p, &end, 10);
		p = end;
	}
	return k;
}

static void read_status(pid_t pid, struct dise_core_proc *p)
{
	char path[64], *st = malloc(1 << 16);
	unsigned long v[DISE_CORE_GROUPS_MAX];
	int n, i;

	if (!st)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (dise_read_small(path, st, 1 << 16) <= 0 || !strstr(st, "\nCoreDumping:\t1") ||
	    status_nums(st, "\nTgid:", v, 1) != 1 || v[0] != (unsigned long)pid)
		goto out;
	if (status_nums(st, "\nUid:", v, 4) != 4)
		goto out;
	p->ruid = (uid_t)v[0];
	p->fsuid = (uid_t)v[3];
	if (status_nums(st, "\nGid:", v, 4) != 4)
		goto out;
	p->rgid = (gid_t)v[0];
	p->fsgid = (gid_t)v[3];
	n = status_nums(st, "\nGroups:", v, DISE_CORE_GROUPS_MAX);
	for (i = 0; i < n; i++)
		p->groups[i] = (gid_t)v[i];
	p->ngroups = n;
	if (status_nums(st, "\nPPid:", v, 1) == 1)
		p->ppid = (uint32_t)v[0];
	p->live = 1;
out:
	free(st);
}

/* Its start from /proc's clock ticks onto CLOCK_MONOTONIC and CLOCK_REALTIME, rounded up to the next tick. */
static void read_start(pid_t pid, struct dise_core_proc *p)
{
	struct dise_proc_stat ps;
	long tick = sysconf(_SC_CLK_TCK);
	long long now_boot, start_boot;

	if (dise_proc_stat(pid, &ps) < 0 || tick <= 0)
		return;
	now_boot = (long long)dise_rec_clock_ns(CLOCK_BOOTTIME);
	start_boot = (ps.f[22] + 1) * (1000000000LL / tick);
	if (start_boot >= now_boot)
		start_boot = now_boot - 1;
	p->start_mono_ns = dise_rec_clock_ns(CLOCK_MONOTONIC) - (uint64_t)(now_boot - start_boot);
	p->start_wall_ns = dise_rec_clock_ns(CLOCK_REALTIME) - (uint64_t)(now_boot - start_boot);
}

static int other_mntns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	if (stat(path, &a) < 0 || stat("/proc/self/ns/mnt", &b) < 0)
		return 1; /* cannot tell: treated as foreign */
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

void dise_core_proc_read(pid_t pid, struct dise_core_proc *p)
{
	char path[64];

	memset(p, 0, sizeof(*p));
	p->cwdfd = p->rootfd = -1;
	read_status(pid, p);
	if (!p->live)
		return;
	read_start(pid, p);
	p->other_mntns = other_mntns(pid);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	p->cwdfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	p->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	p->have_exe_st = stat(path, &p->exe_st) == 0;
	link_of(pid, "exe", p->exe, sizeof(p->exe));
	link_of(pid, "cwd", p->cwd, sizeof(p->cwd));
	p->cmdline_len = read_packed(pid, "cmdline", &p->cmdline);
	p->environ_len = read_packed(pid, "environ", &p->environ);
}

void dise_core_proc_done(struct dise_core_proc *p)
{
	if (p->cwdfd >= 0)
		close(p->cwdfd);
	if (p->rootfd >= 0)
		close(p->rootfd);
	free(p->cmdline);
	free(p->environ);
	p->cmdline = p->environ = NULL;
	p->cwdfd = p->rootfd = -1;
}

const char *dise_core_proc_env(const struct dise_core_proc *p, const char *name)
{
	size_t k = strlen(name), at = 0;

	while (p->environ && at < p->environ_len) {
		const char *s = p->environ + at;
		size_t len = strnlen(s, p->environ_len - at);

		if (len > k && !strncmp(s, name, k) && s[k] == '=' && at + len < p->environ_len)
			return s + k + 1;
		at += len + 1;
	}
	return NULL;
}
