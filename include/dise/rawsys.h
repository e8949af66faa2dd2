/* SPDX-License-Identifier: MIT */
/*
 * System calls made inline, for the shim's paths that run in a fork child
 * before its exec: there every page of code touched is a page fault again
 * (a fork does not copy the page tables of file mappings), and libc's
 * syscall(), __errno_location, strlen and sched_getcpu are each a page of
 * libc a shell's child does not otherwise touch between fork and exec
 * (perf record -e page-faults of a watched bash loop: docs/shim-cost.md).
 * These return -errno on failure and never touch errno. Async-signal-safe.
 */
#ifndef DISE_RAWSYS_H
#define DISE_RAWSYS_H

#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
static inline long dise_sys3(long n, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static inline long dise_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
#else
#include <errno.h>
static inline long dise_sys3(long n, long a, long b, long c)
{
	int saved = errno;
	long r = syscall(n, a, b, c);

	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}

static inline long dise_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	int saved = errno;
	long r = syscall(n, a, b, c, d, e, f);

	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}
#endif

static inline long dise_sys0(long n)
{
	return dise_sys3(n, 0, 0, 0);
}

/* strnlen without a call into libc (see above); for the short strings of a START. */
static inline size_t dise_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

#endif
