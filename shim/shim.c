/* SPDX-License-Identifier: MIT */
/*
 * The shim's entry: wraps __libc_start_main to record START before the
 * program's own constructors and main run, and records EXIT on the way out
 * (return from main, exit, _exit, _Exit).
 *
 * Invariant: the shim is a guest. Every path saves and restores errno, never
 * prints (unless DISE_DEBUG is set), never exits, and when anything it needs
 * is missing (no ring, a corrupt ring, no /dev/shm) it records nothing and
 * lets every call through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct dise_shim dise__shim;
struct dise_real dise__real;

static char cwd_buf[DISE_PATH_MAX]; /* START only: at init, or in a fork child (one thread) */

uint64_t dise__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dise__debug(const char *msg, int err)
{
	char buf[256];
	size_t n = 0, m;

	if (!dise__shim.debug)
		return;
	m = strlen(msg);
	if (m > 200)
		m = 200;
	memcpy(buf, "dise-shim: ", 11);
	n = 11;
	memcpy(buf + n, msg, m);
	n += m;
	if (err) {
		const char *e = strerrorname_np(err);

		if (e) {
			size_t k = strlen(e);

			buf[n++] = ':';
			buf[n++] = ' ';
			if (k > 40)
				k = 40;
			memcpy(buf + n, e, k);
			n += k;
		}
	}
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}

#define RESOLVE(name) \
	if (!dise__real.name) \
		*(void **)&dise__real.name = dlsym(RTLD_NEXT, #name)

void dise__resolve(void)
{
	RESOLVE(sigaction);
	RESOLVE(signal);
	RESOLVE(execve);
	RESOLVE(execvpe);
	RESOLVE(fexecve);
	RESOLVE(posix_spawn);
	RESOLVE(posix_spawnp);
	RESOLVE(pthread_create);
	RESOLVE(sigaltstack);
	RESOLVE(exit);
	RESOLVE(_exit);
}

int dise__active(void)
{
	return dise__shim.ring.hdr && !dise__shim.disabled && (uint32_t)getpid() == dise__shim.pid;
}

void dise__fill_hdr(struct dise_rec_hdr *h, uint16_t type, uint32_t size)
{
	h->size = size;
	h->type = type;
	h->hdr_size = sizeof(*h);
	h->mono_ns = dise__now_ns();
	h->run_start_ns = dise__shim.run_start_ns;
	h->pid = dise__shim.pid;
	h->tid = (uint32_t)syscall(SYS_gettid);
}

void dise__argv_plan(char *const argv[], struct dise_argv_plan *ret)
{
	uint32_t i;

	memset(ret, 0, sizeof(*ret));
	if (!argv)
		return;
	for (i = 0; argv[i] && i < INT_MAX; i++) {
		if (!ret->truncated) {
			size_t room = DISE_ARGV_MAX - ret->bytes;
			size_t n = strnlen(argv[i], room);

			if (n + 1 > room)
				ret->truncated = 1;
			else {
				ret->bytes += (uint32_t)n + 1;
				ret->count++;
			}
		}
	}
	ret->argc = i;
}

void dise__argv_write(dise_ring_resv *v, uint32_t off, char *const argv[], const struct dise_argv_plan *plan)
{
	uint32_t i;

	for (i = 0; i < plan->count; i++) {
		uint32_t n = (uint32_t)strlen(argv[i]) + 1;

		dise_ring_write(&dise__shim.ring, v, off, argv[i], n);
		off += n;
	}
}

static void file_id(const struct stat *st, struct dise_file_id *id)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static uint16_t str_len(const char *s)
{
	return s && s[0] ? (uint16_t)(strnlen(s, DISE_PATH_MAX - 1) + 1) : 0;
}

void dise__record_start(uint32_t extra_flags)
{
	struct dise_shim *S = &dise__shim;
	struct dise_rec_start s;
	struct dise_argv_plan plan;
	dise_ring_resv v;
	uint32_t off, len;
	const char *cwd;

	memset(&s, 0, sizeof(s));
	cwd = getcwd(cwd_buf, sizeof(cwd_buf)) ? cwd_buf : "";
	dise__argv_plan(S->argv, &plan);
	s.wall_ns = S->start_wall_ns;
	s.ppid = (uint32_t)getppid();
	s.uid = (uint32_t)getuid();
	s.flags = S->start_flags | extra_flags | (plan.truncated ? DISE_START_ARGV_TRUNC : 0);
	s.argc = plan.argc;
	s.exe = S->exe_id;
	s.script = S->script_id;
	s.exe_len = str_len(S->exe);
	s.execfn_len = str_len(S->execfn);
	s.cwd_len = str_len(cwd);
	s.argv_len = (uint16_t)plan.bytes;
	s.argv_count = plan.count;
	len = (uint32_t)sizeof(s) + s.exe_len + s.execfn_len + s.cwd_len + s.argv_len;
	dise__fill_hdr(&s.h, DISE_REC_START, len);
	if (dise_ring_reserve(&S->ring, len, &v) < 0)
		return;
	dise_ring_write(&S->ring, &v, 0, &s, sizeof(s));
	off = sizeof(s);
	/* Strings are written with an explicit NUL: a cut string still ends in one. */
	dise_ring_write(&S->ring, &v, off, S->exe, s.exe_len ? s.exe_len - 1u : 0);
	off += s.exe_len;
	if (s.exe_len)
		dise_ring_write(&S->ring, &v, off - 1, "", 1);
	dise_ring_write(&S->ring, &v, off, S->execfn, s.execfn_len ? s.execfn_len - 1u : 0);
	off += s.execfn_len;
	if (s.execfn_len)
		dise_ring_write(&S->ring, &v, off - 1, "", 1);
	dise_ring_write(&S->ring, &v, off, cwd, s.cwd_len ? s.cwd_len - 1u : 0);
	off += s.cwd_len;
	if (s.cwd_len)
		dise_ring_write(&S->ring, &v, off - 1, "", 1);
	dise__argv_write(&v, off, S->argv, &plan);
	dise_ring_commit(&S->ring, &v);
}

void dise__record_exit(int status, unsigned how)
{
	struct dise_rec_exit e;
	struct rusage ru;

	if (!dise__active())
		return;
	if (atomic_exchange(&dise__shim.exited, 1))
		return;
	memset(&e, 0, sizeof(e));
	dise__fill_hdr(&e.h, DISE_REC_EXIT, sizeof(e));
	e.status = status;
	e.how = how;
	e.elapsed_ns = e.h.mono_ns - dise__shim.run_start_ns;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		e.user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
		e.sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
		e.maxrss_kb = (uint64_t)ru.ru_maxrss;
	}
	dise_ring_put(&dise__shim.ring, &e, sizeof(e));
}

/* The absolute path of this library, for LD_PRELOAD in children. */
static void find_self(void)
{
	static const char key[] = "LD_PRELOAD=";
	Dl_info info;
	char abs[PATH_MAX];
	const char *p = NULL;
	size_t n;

	if (dladdr((void *)find_self, &info) && info.dli_fname && info.dli_fname[0]) {
		p = info.dli_fname;
		if (p[0] != '/' && realpath(p, abs))
			p = abs;
	}
	if (!p || p[0] != '/')
		return;
	n = strlen(p);
	if (n + sizeof(key) > sizeof(dise__shim.preload))
		return;
	memcpy(dise__shim.preload, key, sizeof(key) - 1);
	memcpy(dise__shim.preload + sizeof(key) - 1, p, n + 1);
}

static void init(int argc, char **argv)
{
	struct dise_shim *S = &dise__shim;
	char path[DISE_PATH_MAX];
	struct timespec ts;
	struct stat st;
	const char *env;
	ssize_t n;
	int r;

	S->debug = getenv("DISE_DEBUG") != NULL;
	S->secure = getauxval(AT_SECURE) != 0;
	if (S->secure)
		return; /* setuid/setgid: the loader should not even have loaded us */
	dise__resolve();
	find_self();
	env = getenv("DISE_RING");
	if (env && env[0] && strlen(env) < DISE_PATH_MAX) {
		memcpy(S->ring_env, "DISE_RING=", 10);
		memcpy(S->ring_env + 10, env, strlen(env) + 1);
	}
	env = getenv("DISE_DISABLE");
	if (env && env[0] && strcmp(env, "0") != 0) {
		S->disabled = 1;
		return;
	}

	S->pid = (uint32_t)getpid();
	S->argc = argc;
	S->argv = argv;
	S->run_start_ns = dise__now_ns();
	clock_gettime(CLOCK_REALTIME, &ts);
	S->start_wall_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

	r = dise_ring_path(path, sizeof(path));
	if (r == 0) {
		env = getenv("DISE_RING_SLOTS");
		r = dise_ring_map(path, DISE_RING_WRITE | DISE_RING_CREATE, env ? (uint32_t)strtoul(env, NULL, 0) : 0,
				  &S->ring);
	}
	if (r < 0) {
		dise__debug("no usable ring, recording nothing", -r);
		return;
	}

	n = readlink("/proc/self/exe", S->exe, sizeof(S->exe) - 1);
	if (n > 0)
		S->exe[n] = '\0';
	else
		S->exe[0] = '\0';
	if (stat("/proc/self/exe", &st) == 0)
		file_id(&st, &S->exe_id);
	else
		S->start_flags |= DISE_START_NO_EXE;
	S->execfn = (const char *)getauxval(AT_EXECFN);
	if (S->execfn && stat(S->execfn, &st) == 0)
		file_id(&st, &S->script_id);
	else
		S->start_flags |= DISE_START_NO_SCRIPT;

	dise__record_start(0);
	dise__signals_init();
	dise__fork_init();
	dise__threads_init();
}

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_main_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
static main_fn real_main;

static int dise_main(int argc, char **argv, char **envp)
{
	int ret = real_main(argc, argv, envp);
	int saved = errno;

	dise__record_exit(ret, DISE_EXIT_MAIN);
	errno = saved;
	return ret;
}

DISE_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init_fn)(void), void (*fini)(void),
				  void (*rtld_fini)(void), void *stack_end)
{
	start_main_fn real = (start_main_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	int saved = errno;

	real_main = main;
	init(argc, argv);
	errno = saved;
	return real(dise__shim.ring.hdr ? dise_main : main, argc, argv, init_fn, fini, rtld_fini, stack_end);
}

DISE_EXPORT void exit(int status)
{
	int saved = errno;

	dise__record_exit(status, DISE_EXIT_EXIT);
	if (!dise__real.exit)
		dise__resolve();
	errno = saved;
	dise__real.exit(status);
}

DISE_EXPORT void _exit(int status)
{
	dise__record_exit(status, DISE_EXIT__EXIT);
	if (!dise__real._exit)
		dise__resolve();
	dise__real._exit(status);
}

DISE_EXPORT void _Exit(int status)
{
	dise__record_exit(status, DISE_EXIT__EXIT2);
	if (!dise__real._exit)
		dise__resolve();
	dise__real._exit(status);
}
