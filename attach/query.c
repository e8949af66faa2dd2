/* SPDX-License-Identifier: MIT */
/*
 * What the front asks /proc before attaching: whether the process is itself
 * a tracer (following it would take its tracees from it) and whether the
 * shim already watches it (its runs are recorded twice otherwise). Read-only
 * questions; the answers may be stale by the time they are used, and the
 * attach itself is what decides.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "proc.h"

pid_t dise_attach_tracee_of(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		pid_t p = (pid_t)atoi(e->d_name);

		if (p > 0 && p != pid && dise_proc_status_num(p, "TracerPid", 10) == pid)
			found = p;
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * Every line of the maps (large programs have long ones), read through the
 * first task that has any (a zombie leader's are empty).
 */
int dise_attach_has_shim(pid_t pid)
{
	char path[300], *line = NULL;
	size_t cap = 0;
	int found = 0, lines = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while (!found && !lines && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/maps", (int)pid, e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		while (!found && getline(&line, &cap, f) > 0) {
			lines++;
			found = strstr(line, "/libdise_shim.so") != NULL;
		}
		fclose(f);
	}
	closedir(d);
	free(line);
	return found;
}
