/* SPDX-License-Identifier: MIT */
/*
 * The exec family and posix_spawn: record EXEC, and keep the shim in the
 * child's environment.
 *
 * Children stay watched even when a program hands exec a scrubbed
 * environment: if LD_PRELOAD does not name the shim, a copy of the
 * environment is built on the stack with the shim appended (and DISE_RING
 * carried over when it was set), since the heap is off limits in a vfork
 * child. DISE_DISABLE=1 in the child's environment is the way out. An
 * environment too large for the stack copy is passed on untouched.
 *
 * execv, execvp, execl and friends call execve inside glibc without going
 * through the PLT, so each is interposed on its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/*
 * The copy lives on the caller's stack, which may be a small thread stack
 * or a vfork child's borrowed one: at most 512 pointers and a 2 KiB value
 * (~6 KiB). A larger environment is passed on untouched.
 */
#define ENV_MAX_ENTRIES 512
#define ENV_VALUE_MAX 2048

extern char **environ;

void dise__record_exec(unsigned call, const char *path, char *const argv[])
{
	struct dise_rec_argv a = { .v = argv };
	struct dise_rec_who who;
	struct dise__ring_sink rs;

	if (!dise__active())
		return; /* also: a vfork child shares our memory, and is not our run */
	who = dise__who((uint32_t)syscall(SYS_gettid));
	dise__ring_sink_init(&rs);
	if (dise_rec_exec_write(&who, call, path, &a, &rs.sink) >= 0)
		dise__ring_sink_commit(&rs);
}

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/*
 * Decides how envp must change. Returns the number of entries of envp
 * (n), or -1 to pass it on untouched. *ret_preload is the index of the
 * LD_PRELOAD entry to rewrite (-1 to add one, -2 to leave it), *ret_ring
 * whether DISE_RING must be added.
 */
static long env_plan(char *const envp[], long *ret_preload, int *ret_ring)
{
	const char *pre = dise__preload_env();
	const char *self = pre ? pre + sizeof("LD_PRELOAD=") - 1 : NULL;
	long n, preload = -1;
	int ring = dise__shim.ring_env != NULL;

	if (!self || !envp)
		return -1;
	for (n = 0; envp[n]; n++) {
		if (n >= ENV_MAX_ENTRIES)
			return -1;
		if (has_prefix(envp[n], "DISE_DISABLE=") && envp[n][13] && strcmp(envp[n] + 13, "0") != 0)
			return -1;
		if (has_prefix(envp[n], "DISE_RING="))
			ring = 0;
		if (has_prefix(envp[n], "LD_PRELOAD="))
			preload = strstr(envp[n], "libdise_shim") ? -2 : n;
	}
	if (preload == -2 && !ring)
		return -1;
	*ret_preload = preload;
	*ret_ring = ring;
	return n;
}

/*
 * Runs `call` with envp, or with a patched copy on this stack frame.
 * A macro, not a function: the copy must live in the caller's frame
 * until exec.
 */
#define WITH_ENV(envp, newenv, call)                                                               \
	do {                                                                                       \
		long pre_, n_ = -1;                                                                \
		int ring_ = 0;                                                                     \
		size_t vlen_ = 1;                                                                  \
		if (!dise__shim.secure)                                                            \
			n_ = env_plan((envp), &pre_, &ring_);                                      \
		if (n_ >= 0 && pre_ >= 0)                                                          \
			vlen_ = strlen((envp)[pre_]) + strlen(dise__preload_env()) + 2;          \
		if (n_ < 0 || vlen_ > ENV_VALUE_MAX) {                                             \
			char *const *newenv = (envp);                                              \
			call;                                                                      \
		} else {                                                                           \
			char *copy_[n_ + 3];                                                       \
			char val_[vlen_];                                                          \
			long i_, k_ = 0;                                                           \
			for (i_ = 0; i_ < n_; i_++)                                                \
				copy_[k_++] = (envp)[i_];                                          \
			if (pre_ >= 0) {                                                           \
				/* LD_PRELOAD=<theirs>:<shim> */                                   \
				size_t a_ = strlen((envp)[pre_]);                                  \
				memcpy(val_, (envp)[pre_], a_);                                    \
				val_[a_] = ':';                                                    \
				strcpy(val_ + a_ + 1, dise__preload_env() + sizeof("LD_PRELOAD=") - 1); \
				copy_[pre_] = val_;                                                \
			} else if (pre_ == -1)                                                     \
				copy_[k_++] = (char *)dise__preload_env();                         \
			if (ring_)                                                                 \
				copy_[k_++] = (char *)dise__shim.ring_env;                         \
			copy_[k_] = NULL;                                                          \
			{                                                                          \
				char *const *newenv = copy_;                                       \
				call;                                                              \
			}                                                                          \
		}                                                                                  \
	} while (0)

static int do_execve(unsigned call, const char *path, char *const argv[], char *const envp[])
{
	int saved = errno, r;

	dise__record_exec(call, path, argv);
	errno = saved;
	WITH_ENV(envp, env, r = DISE_REAL(execve)(path, argv, env));
	return r;
}

static int do_execvpe(unsigned call, const char *file, char *const argv[], char *const envp[])
{
	int saved = errno, r;

	dise__record_exec(call, file, argv);
	errno = saved;
	WITH_ENV(envp, env, r = DISE_REAL(execvpe)(file, argv, env));
	return r;
}

DISE_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return do_execve(DISE_EXEC_EXECVE, path, argv, envp);
}

DISE_EXPORT int execv(const char *path, char *const argv[])
{
	return do_execve(DISE_EXEC_EXECV, path, argv, environ);
}

DISE_EXPORT int execvp(const char *file, char *const argv[])
{
	return do_execvpe(DISE_EXEC_EXECVP, file, argv, environ);
}

DISE_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return do_execvpe(DISE_EXEC_EXECVPE, file, argv, envp);
}

DISE_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	int saved = errno, r;
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dise__record_exec(DISE_EXEC_FEXECVE, path, argv);
	errno = saved;
	WITH_ENV(envp, env, r = DISE_REAL(fexecve)(fd, argv, env));
	return r;
}

/* The execl family: collect the variadic arguments into an array on the stack. */
#define COLLECT_ARGS(arg0, ap, argv, extra)                          \
	size_t argc_ = 1;                                            \
	va_start(ap, arg0);                                          \
	while (va_arg(ap, const char *))                             \
		argc_++;                                             \
	va_end(ap);                                                  \
	char *argv[argc_ + 1];                                       \
	va_start(ap, arg0);                                          \
	argv[0] = (char *)(arg0);                                    \
	for (size_t i_ = 1; i_ <= argc_; i_++)                       \
		argv[i_] = va_arg(ap, char *);                       \
	extra;                                                       \
	va_end(ap)

DISE_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;

	COLLECT_ARGS(arg, ap, argv, (void)0);
	return do_execve(DISE_EXEC_EXECL, path, argv, environ);
}

DISE_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;

	COLLECT_ARGS(arg, ap, argv, (void)0);
	return do_execvpe(DISE_EXEC_EXECLP, file, argv, environ);
}

DISE_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;

	COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char *const *));
	return do_execve(DISE_EXEC_EXECLE, path, argv, envp);
}

DISE_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r;

	WITH_ENV(envp, env, r = DISE_REAL(posix_spawn)(pid, path, fa, attr, argv, env));
	return r;
}

DISE_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r;

	WITH_ENV(envp, env, r = DISE_REAL(posix_spawnp)(pid, file, fa, attr, argv, env));
	return r;
}
