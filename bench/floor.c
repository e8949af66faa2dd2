/* SPDX-License-Identifier: MIT */
/*
 * The floor of the shim's design, for bench-spawn (a benchmark library,
 * never for real programs): what any preloaded library that records runs
 * into a shared-memory ring and sees their crashes must ask the kernel for
 * in every process, and nothing else. Its constructor, by inline system
 * calls as the shim makes them:
 *   - open the ring ($DISE_RING), fstat it (the owner and mode check the
 *     ring's world-writable directory needs), map its header page and one
 *     slot page below it (populated, as the shim does), read both, close;
 *   - stat the executable (AT_EXECFN: the version's identity);
 *   - an alternate signal stack and the seven crash signals' handlers.
 * No clocks, no records, no cwd or parent, no on_exit, nothing at exit: the
 * shim over this library is the shim's own work, this library over an
 * empty one is what the design costs before the shim does anything
 * (docs/shim-cost.md, sixth pass). The handlers put the default back and
 * raise the signal again, so a crash still ends the program as before.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dise/rawsys.h"

#define FLOOR_PAGE 4096
#define FLOOR_ALTSTACK 16384

static char floor_altstack[FLOOR_ALTSTACK] __attribute__((aligned(64)));
static volatile uint64_t floor_sink;

static void floor_handler(int sig)
{
	signal(sig, SIG_DFL);
	raise(sig);
}

static void floor_ring(char **envp)
{
	const char *path = NULL;
	struct stat st;
	long fd, hdr, win;
	int i;

	for (i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "DISE_RING=", 10) == 0)
			path = envp[i] + 10;
	if (!path)
		return;
	fd = dise_sys6(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0, 0, 0);
	if (fd < 0)
		return;
	if (dise_sys3(SYS_fstat, fd, (long)&st, 0) == 0 && S_ISREG(st.st_mode) && st.st_uid == getauxval(AT_EUID) &&
	    !(st.st_mode & 077) && st.st_size >= 2 * FLOOR_PAGE) {
		hdr = dise_sys6(SYS_mmap, 0, FLOOR_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
		if (hdr > 0) { /* an address, or -errno */
			floor_sink = *(volatile uint64_t *)hdr;
			win = dise_sys6(SYS_mmap, hdr - FLOOR_PAGE, FLOOR_PAGE, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_POPULATE, fd, FLOOR_PAGE);
			if (win > 0)
				floor_sink += *(volatile uint64_t *)win;
		}
	}
	(void)dise_sys3(SYS_close, fd, 0, 0);
}

static void floor_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS };
	stack_t ss;
	unsigned i;

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = floor_altstack;
	ss.ss_size = sizeof(floor_altstack);
	(void)dise_sys3(SYS_sigaltstack, (long)&ss, 0, 0);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = floor_handler;
		sa.sa_flags = SA_ONSTACK;
		/* glibc's (it adds the signal return); the shim's own rt_sigaction is one system call each too */
		(void)sigaction(sigs[i], &sa, NULL);
	}
}

__attribute__((constructor)) static void floor_init(int argc, char **argv, char **envp)
{
	const char *exe = (const char *)getauxval(AT_EXECFN);
	struct stat st;

	(void)argc;
	(void)argv;
	floor_ring(envp);
	if (exe)
		(void)dise_sys6(SYS_newfstatat, AT_FDCWD, (long)exe, (long)&st, 0, 0, 0);
	floor_signals();
}
