/* SPDX-License-Identifier: MIT */
/* Work with a deadline (bounded.h): one thread per call, left behind when stuck. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bounded.h"

struct job {
	int (*fn)(void *);
	void *arg;
	void (*done)(void *);
	int result, finished, abandoned;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned stuck;

static void *worker(void *p)
{
	struct job *j = p;
	int r = j->fn(j->arg);

	pthread_mutex_lock(&lock);
	if (j->abandoned) {
		stuck--;
		pthread_mutex_unlock(&lock);
		if (j->done)
			j->done(j->arg);
		free(j);
		return NULL;
	}
	j->result = r;
	j->finished = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock); /* the caller owns j from here */
	return NULL;
}

int dise_bounded(int (*fn)(void *), void *arg, void (*done)(void *), unsigned ms)
{
	struct job *j;
	struct timespec until;
	pthread_attr_t attr;
	pthread_t t;
	int r = 0;

	pthread_mutex_lock(&lock);
	if (stuck >= DISE_BOUNDED_STUCK) {
		pthread_mutex_unlock(&lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&lock);
	j = calloc(1, sizeof(*j));
	if (!j)
		return fn(arg);
	j->fn = fn, j->arg = arg, j->done = done;
	if (pthread_attr_init(&attr) != 0) {
		free(j);
		return fn(arg);
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, worker, j) != 0) {
		pthread_attr_destroy(&attr);
		free(j);
		return fn(arg);
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	while (!j->finished && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&cond, &lock, &until);
	if (!j->finished) {
		j->abandoned = 1;
		stuck++;
		pthread_mutex_unlock(&lock);
		return -ETIMEDOUT;
	}
	pthread_mutex_unlock(&lock);
	r = j->result;
	free(j);
	return r;
}

unsigned dise_file_deadline_ms(unsigned def)
{
	const char *e = getenv("DISE_TEST_FILE_DEADLINE_MS");
	long v = e ? strtol(e, NULL, 10) : 0;

	return v > 0 && v < 3600000 ? (unsigned)v : def;
}
