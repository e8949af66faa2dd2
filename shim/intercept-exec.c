/* SPDX-License-Identifier: MIT */
/*
 * The exec family and posix_spawn: record EXEC, and hand the child the
 * environment child-env.c decides on: the shim kept in an environment that
 * merely lost it, left out of one cleared on purpose, and never named where
 * the child's loader could not open it. The copy is built on the stack,
 * since the heap is off limits in a vfork child. DISE_DISABLE=1 in the
 * child's environment is the way out.
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

extern char **environ;

void dise__record_exec(unsigned call, const char *path, char *const argv[])
{
	struct dise_rec_argv a = { .v = argv };
	struct dise_rec_who who;
	struct dise__ring_sink rs;
	uint32_t tid = dise__active_tid();

	if (!tid)
		return; /* also: a vfork child shares our memory, and is not our run */
	who = dise__who(tid);
	dise__ring_sink_init(&rs);
	if (dise_rec_exec_write(&who, call, path, &a, &rs.sink) >= 0)
		dise__ring_sink_commit(&rs, 0);
}

/*
 * Runs `call` with envp, or with a patched copy on this stack frame
 * (child-env.c decides). A macro, not a function: the copy must live in the
 * caller's frame until exec.
 */
#define WITH_ENV(envp, newenv, call)                                                   \
	do {                                                                           \
		struct dise__env_plan p_;                                              \
		if (dise__shim.secure || !dise__env_plan((envp), &p_)) {               \
			char *const *newenv = (envp);                                  \
			call;                                                          \
		} else {                                                               \
			char *copy_[p_.n + 3];                                         \
			char val_[p_.vlen ? p_.vlen : 1];                              \
			dise__env_build((envp), &p_, copy_, val_);                     \
			{                                                              \
				char *const *newenv = copy_;                           \
				call;                                                  \
			}                                                              \
		}                                                                      \
	} while (0)

/*
 * No errno saved around EXEC and the environment's plan: both leave it
 * alone (inline system calls, the ring, loops: rawsys.h, child-env.c), and
 * a save is a call into libc (__errno_location), a page of libc a watched
 * shell's fork child does not touch otherwise (bench/bench-syscalls.sh).
 */
static int do_execve(unsigned call, const char *path, char *const argv[], char *const envp[])
{
	int r;

	dise__record_exec(call, path, argv);
	WITH_ENV(envp, env, r = DISE_REAL(execve)(path, argv, env));
	return r;
}

static int do_execvpe(unsigned call, const char *file, char *const argv[], char *const envp[])
{
	int r;

	dise__record_exec(call, file, argv);
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
