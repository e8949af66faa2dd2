/* SPDX-License-Identifier: MIT */
/*
 * pthread_create: give every thread its own alternate signal stack, so that
 * a stack overflow on any thread still reaches the crash handler. The
 * sigaltstack setting is per thread and the main thread's comes from
 * shim.c; a new thread starts with none.
 *
 * The stack is mmap'ed with a guard page below it and given back by a
 * thread-specific-data destructor, which runs on pthread_exit, on return
 * from the start routine, and on cancellation alike. If anything fails the
 * thread simply runs without one, as it would without dise.
 *
 * Given back means kept for the next thread: a few spare stacks wait in
 * SPARE slots, so a program that makes and joins threads all day pays two
 * sigaltstack calls per thread, not also an mmap, an mprotect (which splits
 * the mapping) and a munmap. Creating and tearing down mappings is what
 * costs on a VM (bench/bench-threads.c measures it). A slot changes hands
 * by one atomic exchange, so no lock is held across fork and no stack is
 * ever handed to two threads. A thread hands its stack back only after
 * the kernel stopped using it for that thread (SS_DISABLE succeeded), so a
 * late signal of the exiting thread never lands on another thread's stack.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define THREAD_ALTSTACK (64 * 1024)
#define GUARD 4096

struct tramp {
	void *(*fn)(void *);
	void *arg;
};

#define SPARE 16

static pthread_key_t altstack_key;
static int key_ok;
static void *_Atomic spare[SPARE]; /* stacks (guard page included) no thread uses */

/* A spare stack, or a new one; NULL when none can be had. */
static void *stack_get(void)
{
	void *mem;
	size_t i;

	for (i = 0; i < SPARE; i++)
		if (atomic_load_explicit(&spare[i], memory_order_relaxed) &&
		    (mem = atomic_exchange_explicit(&spare[i], NULL, memory_order_acquire)))
			return mem;
	mem = mmap(NULL, THREAD_ALTSTACK + GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1,
		   0);
	if (mem == MAP_FAILED)
		return NULL;
	if (mprotect(mem, GUARD, PROT_NONE) != 0) {
		munmap(mem, THREAD_ALTSTACK + GUARD);
		return NULL;
	}
	return mem;
}

/* Keeps a stack no thread uses for the next thread, or unmaps it when the spare slots are full. */
static void stack_put(void *mem)
{
	size_t i;

	for (i = 0; i < SPARE; i++) {
		void *expect = NULL;

		if (atomic_compare_exchange_strong_explicit(&spare[i], &expect, mem, memory_order_release,
							    memory_order_relaxed))
			return;
	}
	munmap(mem, THREAD_ALTSTACK + GUARD);
}

static void altstack_free(void *p)
{
	if (dise__altstack_is_ours((char *)p + GUARD)) {
		stack_t ss;

		memset(&ss, 0, sizeof(ss));
		ss.ss_flags = SS_DISABLE;
		/* EPERM: this thread is running on it (pthread_exit from a handler): leave it be */
		if (dise__sigaltstack(&ss, NULL) != 0)
			return;
	}
	stack_put(p);
}

static void *thread_start(void *p)
{
	struct tramp t = *(struct tramp *)p;
	void *mem;

	free(p);
	mem = stack_get();
	if (mem) {
		dise__altstack_set((char *)mem + GUARD, THREAD_ALTSTACK);
		if (pthread_setspecific(altstack_key, mem) != 0)
			altstack_free(mem);
	}
	return t.fn(t.arg);
}

static void key_init(void)
{
	key_ok = pthread_key_create(&altstack_key, altstack_free) == 0;
}

void dise__threads_init(void)
{
}

DISE_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct tramp *t;
	int r;

	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (dise__shim.signals_on)
		pthread_once(&once, key_init); /* most processes never make a thread: not at init */
	if (!dise__shim.signals_on || !key_ok || !(t = malloc(sizeof(*t)))) {
		atomic_store(&dise__shim.threaded, 1);
		return DISE_REAL(pthread_create)(th, attr, fn, arg);
	}
	atomic_store(&dise__shim.threaded, 1);
	t->fn = fn;
	t->arg = arg;
	r = DISE_REAL(pthread_create)(th, attr, thread_start, t);
	if (r != 0)
		free(t);
	return r;
}
