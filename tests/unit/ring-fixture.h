/* SPDX-License-Identifier: MIT */
/*
 * What the ring's unit tests (test-ring*.c) share: a ring path of their
 * own per test (setup, teardown: a cmocka fixture), and an alarm that ends
 * a wait nothing woke (alarm_on, alarm_off: the wait's futex returns EINTR,
 * and alarmed says it was the alarm).
 */
#ifndef DISE_RING_FIXTURE_H
#define DISE_RING_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char ring_path[256];

static int setup(void **state)
{
	static int k;

	(void)state;
	snprintf(ring_path, sizeof(ring_path), "/dev/shm/dise-test-ring-%d-%d", (int)getpid(), k++);
	unlink(ring_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(ring_path);
	return 0;
}

static volatile sig_atomic_t alarmed;
static struct sigaction alarm_old;

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

/* SIGALRM in s seconds, caught without SA_RESTART (a futex wait it ends returns EINTR) */
static inline void alarm_on(unsigned s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	assert_int_equal(sigaction(SIGALRM, &sa, &alarm_old), 0);
	alarmed = 0;
	alarm(s);
}

/* the alarm off, the old disposition back; whether it went off */
static inline int alarm_off(void)
{
	alarm(0);
	assert_int_equal(sigaction(SIGALRM, &alarm_old, NULL), 0);
	return alarmed;
}

#endif
