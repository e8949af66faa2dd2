/* SPDX-License-Identifier: MIT */
/*
 * The route table file (see include/dise/ring.h): written whole by the
 * collector and renamed into place; read by the shim with a few preads,
 * every value bounded before use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dise/ring.h"

/* FNV-1a of an identity */
static uint64_t route_hash(const struct dise_file_id *id)
{
	uint64_t v[4] = { id->dev, id->ino, id->size, (uint64_t)id->mtime_ns };
	const uint8_t *p = (const uint8_t *)v;
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < sizeof(v); i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

uint64_t dise_route_key(const struct dise_file_id *from)
{
	return route_hash(from);
}

/* An entry's check word: nonzero, bit 0 the arm, the rest a mix of key and pid (a torn entry fails it). */
static uint32_t arm_word(uint64_t key, uint32_t pid, int arm)
{
	uint64_t z = key ^ ((uint64_t)pid << 17) ^ 0x61726d7461626c65ull; /* "armtable" */
	uint32_t w;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	w = ((uint32_t)(z >> 32) & ~1u) | (arm ? 1u : 0u);
	return (w & ~1u) ? w : w | 2u;
}

static struct dise_arm_entry *arm_table(const dise_ring *r)
{
	return (struct dise_arm_entry *)((char *)r->hdr + sizeof(struct dise_ring_header));
}

/* pid's entry (1, its key and arm), or 0: read as a seqlock reads, the check word before and after */
static int arm_read(struct dise_arm_entry *e, uint32_t pid, uint64_t *ret_key, int *ret_arm)
{
	uint32_t w = atomic_load_explicit(&e->word, memory_order_acquire), p;
	uint64_t key;

	if (!w)
		return 0;
	key = atomic_load_explicit(&e->key, memory_order_relaxed);
	p = atomic_load_explicit(&e->pid, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->word, memory_order_relaxed) != w || p != pid || !key ||
	    w != arm_word(key, p, (int)(w & 1)))
		return 0;
	*ret_key = key;
	*ret_arm = (int)(w & 1);
	return 1;
}

int dise_arm_get(const dise_ring *r, uint32_t pid, uint64_t *ret_key, int *ret_arm)
{
	struct dise_arm_entry *t;
	uint32_t k;

	if (!r->hdr || !pid)
		return 0;
	t = arm_table(r);
	for (k = 0; k < DISE_ARM_PROBE; k++)
		if (arm_read(&t[(pid + k) % DISE_ARMS], pid, ret_key, ret_arm))
			return 1;
	return 0;
}

void dise_arm_put(const dise_ring *r, uint32_t pid, uint64_t key, int arm)
{
	struct dise_arm_entry *t, *e = NULL;
	uint32_t k;

	if (!r->hdr || !r->writable || !pid || !key)
		return;
	t = arm_table(r);
	/* pid's own entry, else the first empty one, else its home (overwritten: that process draws again) */
	for (k = 0; k < DISE_ARM_PROBE; k++) {
		struct dise_arm_entry *x = &t[(pid + k) % DISE_ARMS];

		if (atomic_load_explicit(&x->pid, memory_order_relaxed) == pid) {
			e = x;
			break;
		}
		if (!e && !atomic_load_explicit(&x->word, memory_order_relaxed))
			e = x;
	}
	if (!e)
		e = &t[pid % DISE_ARMS];
	atomic_store_explicit(&e->word, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->key, key, memory_order_relaxed);
	atomic_store_explicit(&e->pid, pid, memory_order_relaxed);
	atomic_store_explicit(&e->word, arm_word(key, pid, arm), memory_order_release);
}

void dise_arm_clear(const dise_ring *r, uint32_t pid)
{
	struct dise_arm_entry *t;
	uint32_t k;

	if (!r->hdr || !r->writable || !pid)
		return;
	t = arm_table(r);
	for (k = 0; k < DISE_ARM_PROBE; k++) {
		struct dise_arm_entry *x = &t[(pid + k) % DISE_ARMS];
		uint32_t w = atomic_load_explicit(&x->word, memory_order_relaxed);

		/* only an entry still ours: a CAS, so that another pid's entry written meanwhile stays */
		if (w && atomic_load_explicit(&x->pid, memory_order_relaxed) == pid)
			atomic_compare_exchange_strong(&x->word, &w, 0);
	}
}

static int same_id(const struct dise_file_id *a, const struct dise_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

int dise_routes_path(const char *ring_path, char *buf, size_t size)
{
	size_t n = strlen(ring_path);

	if (n + sizeof(".routes") > size)
		return -ENAMETOOLONG;
	memcpy(buf, ring_path, n);
	memcpy(buf + n, ".routes", sizeof(".routes"));
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int dise_routes_write(const char *path, const struct dise_route_in *e, size_t n)
{
	struct dise_routes_header h;
	struct dise_route_entry *b = NULL;
	uint32_t nb = 16;
	uint64_t off = 0;
	size_t i, k;
	char tmp[4096 + 32];
	int fd, r = 0;

	/* a table at most half full, grown until every entry sits within DISE_ROUTE_PROBE of its bucket */
	while (nb < 2 * n)
		nb *= 2;
	for (;;) {
		if (nb > DISE_ROUTES_MAX_BUCKETS)
			return -E2BIG;
		free(b);
		b = calloc(nb, sizeof(*b));
		if (!b)
			return -ENOMEM;
		off = 0;
		for (i = 0; i < n; i++) {
			uint64_t s = route_hash(&e[i].from);
			size_t len = strlen(e[i].target);

			size_t clen = e[i].canary_target ? strlen(e[i].canary_target) : 0;

			if (e[i].target[0] != '/' || len == 0 || len >= 4096 || e[i].canary_pct > 99 ||
			    (e[i].canary_target && (e[i].canary_target[0] != '/' || clen >= 4096 || !e[i].canary_pct))) {
				free(b);
				return -EINVAL;
			}
			for (k = 0; k < DISE_ROUTE_PROBE; k++) {
				struct dise_route_entry *x = &b[(s + k) & (nb - 1)];

				if (x->target_len)
					continue;
				x->from = e[i].from;
				x->to = e[i].to;
				x->to_ctime_ns = e[i].to_ctime_ns;
				x->target_off = off;
				x->target_len = (uint32_t)len;
				x->flags = e[i].flags;
				x->canary_pct = e[i].canary_pct;
				off += len + 1;
				if (clen) {
					x->canary_len = (uint32_t)clen;
					x->canary_to = e[i].canary_to;
					x->canary_ctime_ns = e[i].canary_ctime_ns;
					x->canary_off = off;
					off += clen + 1;
				}
				break;
			}
			if (k == DISE_ROUTE_PROBE)
				break;
		}
		if (i == n)
			break;
		nb *= 2;
	}
	memset(&h, 0, sizeof(h));
	h.magic = DISE_ROUTES_MAGIC;
	h.version = DISE_ROUTES_VERSION;
	h.nbuckets = nb;
	h.nentries = (uint32_t)n;
	h.strings_len = off;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		free(b);
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		free(b);
		return -errno;
	}
	r = write_all(fd, &h, sizeof(h));
	if (r == 0)
		r = write_all(fd, b, (size_t)nb * sizeof(*b));
	for (i = 0; r == 0 && i < n; i++) {
		r = write_all(fd, e[i].target, strlen(e[i].target) + 1);
		if (r == 0 && e[i].canary_target)
			r = write_all(fd, e[i].canary_target, strlen(e[i].canary_target) + 1);
	}
	free(b);
	if (r == 0 && fchmod(fd, 0600) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
	ssize_t r;

	do
		r = pread(fd, p, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)n ? 0 : -EBADMSG;
}

/* One path of the strings into out: len bytes at off, NUL-terminated, absolute, no NUL inside. 0 or -EBADMSG. */
static int read_target(int fd, uint64_t strings, uint64_t strings_len, uint64_t off, uint32_t len, char *out,
		       size_t size)
{
	if ((uint64_t)len + 1 > size || off > strings_len || len + 1 > strings_len - off ||
	    pread_all(fd, out, (size_t)len + 1, strings + off) < 0 || out[len] != '\0' || out[0] != '/' ||
	    memchr(out, '\0', len))
		return -EBADMSG;
	return 0;
}

/*
 * id's entry of the table at path (1, the open table in *ret_fd to close,
 * its header and the entry), 0 when none, or -errno. Every value bounded.
 */
static int find_entry(const char *path, uint32_t owner, const struct dise_file_id *id, int *ret_fd,
		      struct dise_routes_header *h, struct dise_route_entry *ret)
{
	struct dise_route_entry b[DISE_ROUTE_PROBE];
	struct stat st;
	uint64_t s, first;
	uint32_t k;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != owner && st.st_uid != 0) ||
	    (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	if (pread_all(fd, h, sizeof(*h), 0) < 0 || h->magic != DISE_ROUTES_MAGIC || h->version != DISE_ROUTES_VERSION ||
	    h->nbuckets < DISE_ROUTE_PROBE || h->nbuckets > DISE_ROUTES_MAX_BUCKETS || (h->nbuckets & (h->nbuckets - 1)))
		goto bad;
	s = route_hash(id) & (h->nbuckets - 1);
	/* the probe window, possibly wrapping: read it in up to two pieces */
	first = h->nbuckets - s < DISE_ROUTE_PROBE ? h->nbuckets - s : DISE_ROUTE_PROBE;
	if (pread_all(fd, b, first * sizeof(b[0]), sizeof(*h) + s * sizeof(b[0])) < 0 ||
	    (first < DISE_ROUTE_PROBE && pread_all(fd, b + first, (DISE_ROUTE_PROBE - first) * sizeof(b[0]), sizeof(*h)) < 0))
		goto bad;
	for (k = 0; k < DISE_ROUTE_PROBE && b[k].target_len; k++) {
		if (!same_id(&b[k].from, id))
			continue;
		if (b[k].canary_pct > 99 || (b[k].canary_len && !b[k].canary_pct))
			goto bad;
		*ret = b[k];
		*ret_fd = fd;
		return 1;
	}
	close(fd);
	return 0;
bad:
	close(fd);
	return -EBADMSG;
}

int dise_routes_lookup(const char *path, uint32_t owner, const struct dise_file_id *id, char *out, size_t size,
		       struct dise_file_id *ret_to, int64_t *ret_ctime_ns, uint32_t *ret_flags, uint32_t *ret_canary_pct)
{
	struct dise_routes_header h;
	struct dise_route_entry e;
	int fd, r = find_entry(path, owner, id, &fd, &h, &e);

	if (r <= 0)
		return r;
	r = read_target(fd, sizeof(h) + (uint64_t)h.nbuckets * sizeof(e), h.strings_len, e.target_off, e.target_len, out,
			size);
	close(fd);
	if (r < 0)
		return r;
	*ret_to = e.to;
	if (ret_ctime_ns)
		*ret_ctime_ns = e.to_ctime_ns;
	if (ret_flags)
		*ret_flags = e.flags;
	if (ret_canary_pct)
		*ret_canary_pct = e.canary_pct;
	return 1;
}

int dise_routes_canary(const char *path, uint32_t owner, const struct dise_file_id *id, char *out, size_t size,
		       struct dise_file_id *ret_to, int64_t *ret_ctime_ns)
{
	struct dise_routes_header h;
	struct dise_route_entry e;
	int fd, r = find_entry(path, owner, id, &fd, &h, &e);

	if (r <= 0)
		return r;
	if (!e.canary_len) {
		close(fd);
		return 0;
	}
	r = read_target(fd, sizeof(h) + (uint64_t)h.nbuckets * sizeof(e), h.strings_len, e.canary_off, e.canary_len, out,
			size);
	close(fd);
	if (r < 0)
		return r;
	*ret_to = e.canary_to;
	*ret_ctime_ns = e.canary_ctime_ns;
	return 1;
}

int dise_routes_target_ok(const char *path, const struct dise_file_id *want, int64_t want_ctime, uint32_t owner)
{
	char dir[DISE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct dise_file_id got;
	struct stat st;
	size_t n;

	/* unwritable (the collector makes it so), and not written or chmod'ed since: its ctime is the one published */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) || (st.st_mode & 0222) ||
	    (st.st_uid != owner && st.st_uid != 0))
		return 0;
	got.dev = st.st_dev;
	got.ino = st.st_ino;
	got.size = (uint64_t)st.st_size;
	got.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (got.dev != want->dev || got.ino != want->ino || got.size != want->size || got.mtime_ns != want->mtime_ns ||
	    (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec != want_ctime)
		return 0;
	if (!slash || (n = (size_t)(slash - path)) >= sizeof(dir))
		return 0;
	memcpy(dir, path, n ? n : 1);
	dir[n ? n : 1] = '\0';
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_uid != owner && st.st_uid != 0) ||
	    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
		return 0;
	return 1;
}
