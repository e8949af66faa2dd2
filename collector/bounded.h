/* SPDX-License-Identifier: MIT */
#ifndef DISE_BOUNDED_H
#define DISE_BOUNDED_H

/*
 * Runs fn(arg) on a thread of its own and waits at most ms for it: file
 * work on a path from the ring (hashing an executable, opening a crashed
 * module), which a hung network filesystem could stall forever. Returns
 * fn's result; -ETIMEDOUT when it did not end in time: the thread goes on
 * alone and, when it ends, calls done(arg) (arg is the thread's from then
 * on: the caller must not touch it again); -EBUSY at once when
 * DISE_BOUNDED_STUCK threads are still stuck so (a bound on what a hung
 * filesystem costs). When no thread can be made, fn runs here.
 * On any other return, arg is the caller's again.
 */
#define DISE_BOUNDED_STUCK 8

int dise_bounded(int (*fn)(void *), void *arg, void (*done)(void *), unsigned ms);

/* The deadline for one file (ms): $DISE_TEST_FILE_DEADLINE_MS for tests, else def. */
unsigned dise_file_deadline_ms(unsigned def);

#endif
