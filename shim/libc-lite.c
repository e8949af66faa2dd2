/* SPDX-License-Identifier: MIT */
/*
 * The libc functions the shim's start and EXIT call in every process, as
 * the shim's own: getenv, getauxval, strlen, memcpy, memset. Hidden (the
 * version script exports none of them), so they bind within the shim
 * (its ring/ and record/ objects included) and never for the program.
 *
 * Why: on this project's VM kind, what a preloaded library's start costs a
 * short process is the pages it makes it touch, not the instructions. Each
 * libc function the program itself does not call is a page of libc's code
 * the process faults in (~12 us under load, measured: docs/shim-cost.md,
 * "Fifth pass"); the lazy binding itself is ~1 us. glibc's getenv alone
 * touched three (getenv, and the strlen and strncmp it calls).
 *
 * Same results as glibc's for every call the shim makes. getauxval reads
 * the auxiliary vector that follows the environment the kernel placed on
 * the initial stack (found by the constructor); before that, and for the
 * hardware capabilities (which glibc may mask), glibc's own.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"

extern unsigned long __getauxval(unsigned long type); /* glibc's getauxval, exported under this name too */

static const ElfW(auxv_t) *auxv DISE_HOT;

void dise__auxv_init(char **envp0)
{
	char **e = envp0;

	if (!e)
		return;
	while (*e)
		e++;
	auxv = (const ElfW(auxv_t) *)(e + 1);
}

unsigned long getauxval(unsigned long type)
{
	const ElfW(auxv_t) *a = auxv;

	if (a && type != AT_HWCAP && type != AT_HWCAP2)
		for (; a->a_type != AT_NULL; a++)
			if (a->a_type == type)
				return a->a_un.a_val;
	return __getauxval(type); /* not found (glibc sets ENOENT), or not known yet */
}

char *getenv(const char *name)
{
	extern char **environ;
	char **e = environ;
	size_t n;

	if (!e || !name[0])
		return NULL;
	n = strlen(name);
	for (; *e; e++) {
		const char *s = *e;
		size_t i = 0;

		while (i < n && s[i] == name[i])
			i++;
		if (i == n && s[n] == '=')
			return (char *)s + n + 1;
	}
	return NULL;
}

/*
 * No loops a compiler turns back into calls of the same functions
 * (-fno-tree-loop-distribute-patterns is set for this file too): on x86-64
 * the string instructions, fast for the short records of the shim and fine
 * for a crash's stack copy.
 */
size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
#if defined(__x86_64__)
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
#else
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
#endif
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
#if defined(__x86_64__)
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
#else
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
#endif
	return dst;
}
