/* SPDX-License-Identifier: MIT */
/* The versions the resolver gave, by path (known.h): a direct-mapped table of KNOWN_SLOTS paths. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "known.h"

#define KNOWN_SLOTS 1024

struct known_entry {
	char *path, *tool; /* NULL: empty */
	struct dise_known_id id;
	int64_t version;
};

struct dise_known {
	pthread_mutex_t lock;
	uint64_t hits;
	struct known_entry e[KNOWN_SLOTS];
};

dise_known *dise_known_new(void)
{
	dise_known *k = calloc(1, sizeof(*k));

	if (k)
		pthread_mutex_init(&k->lock, NULL);
	return k;
}

static void entry_clear(struct known_entry *e)
{
	free(e->path);
	free(e->tool);
	memset(e, 0, sizeof(*e));
}

void dise_known_clear(dise_known *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < KNOWN_SLOTS; i++)
		entry_clear(&k->e[i]);
	pthread_mutex_unlock(&k->lock);
}

void dise_known_free(dise_known *k)
{
	if (!k)
		return;
	dise_known_clear(k);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static struct known_entry *slot(dise_known *k, const char *path)
{
	uint64_t h = 14695981039346656037ull;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return &k->e[h % KNOWN_SLOTS];
}

static int same_id(const struct dise_known_id *a, const struct dise_known_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

void dise_known_put(dise_known *k, const char *path, const struct dise_known_id *id, int64_t version, const char *tool)
{
	struct known_entry *e;
	char *p, *t;

	if (!k || version <= 0)
		return;
	p = strdup(path), t = strdup(tool);
	pthread_mutex_lock(&k->lock);
	e = slot(k, path);
	entry_clear(e);
	if (p && t) {
		e->path = p, e->tool = t, e->id = *id, e->version = version;
		p = t = NULL;
	}
	pthread_mutex_unlock(&k->lock);
	free(p); /* out of memory: nothing kept, the resolver does these runs */
	free(t);
}

int dise_known_get(dise_known *k, const char *path, const struct dise_known_id *id, int64_t *version, char *tool,
		   size_t size)
{
	struct known_entry *e;
	int hit = 0;

	if (!k)
		return 0;
	pthread_mutex_lock(&k->lock);
	e = slot(k, path);
	if (e->path && !strcmp(e->path, path) && same_id(&e->id, id) && strlen(e->tool) < size) {
		memcpy(tool, e->tool, strlen(e->tool) + 1);
		*version = e->version;
		k->hits++;
		hit = 1;
	}
	pthread_mutex_unlock(&k->lock);
	return hit;
}

uint64_t dise_known_hits(dise_known *k)
{
	uint64_t n;

	if (!k)
		return 0;
	pthread_mutex_lock(&k->lock);
	n = k->hits;
	pthread_mutex_unlock(&k->lock);
	return n;
}
