/* SPDX-License-Identifier: MIT */
/*
 * What the handler reads of /proc/PID while the kernel holds the process in
 * its dump (coredump/ only): read as root, before the privileges are
 * dropped, and used only as data afterwards.
 */
#ifndef DISE_COREDUMP_DUMPING_H
#define DISE_COREDUMP_DUMPING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define DISE_CORE_GROUPS_MAX 256

struct dise_core_proc {
	int live;		/* /proc/PID is the process dumping now (CoreDumping: 1) */
	int other_mntns;	/* it lives in another mount namespace than the handler */
	int cwdfd, rootfd;	/* O_PATH, its cwd and root; -1 when not live */
	uid_t ruid, fsuid;
	gid_t rgid, fsgid;
	gid_t groups[DISE_CORE_GROUPS_MAX];
	int ngroups;
	uint32_t ppid;
	uint64_t start_mono_ns, start_wall_ns; /* its start, rounded up to a clock tick */
	char exe[4096], cwd[4096];
	struct stat exe_st;
	int have_exe_st;
	char *cmdline, *environ; /* malloc'ed, packed NUL-terminated strings */
	size_t cmdline_len, environ_len;
};

/* Fills p for pid; p->live 0 when /proc/PID is not that dump (gone, another process). */
void dise_core_proc_read(pid_t pid, struct dise_core_proc *p);
void dise_core_proc_done(struct dise_core_proc *p);

/* The value of NAME in a packed environment, or NULL. */
const char *dise_core_proc_env(const struct dise_core_proc *p, const char *name);

#endif
