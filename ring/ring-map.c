/* SPDX-License-Identifier: MIT */
/*
 * Finding, creating and mapping the ring file (both halves use this).
 *
 * Creation is atomic: the file is built under a private temporary name,
 * its header written, and only then linked to the ring path. Whoever loses
 * the race for the name maps the winner's file. So a mapped ring always has
 * a complete header, and a header that does not validate is garbage or
 * hostile, never a ring being born.
 *
 * Slots are never initialised: a zero seq means "free for lap 0"
 * (see ring-producer.c), so a new ring costs one page, not eight megabytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dise/rawsys.h"
#include "dise/ring.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Formats an unsigned decimal without stdio (async-signal-safe). */
static size_t fmt_u64(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* The effective uid from the auxiliary vector: no system call (this runs in every process). */
static uid_t euid(void)
{
	unsigned long v = getauxval(AT_EUID);

	return v || getauxval(AT_UID) == 0 ? (uid_t)v : geteuid();
}

int dise_ring_path(char *buf, size_t size)
{
	static const char prefix[] = "/dev/shm/dise-";
	const char *env = getenv("DISE_RING");
	size_t n;

	if (env && env[0]) {
		n = strlen(env);
		if (n + 1 > size)
			return -ENAMETOOLONG;
		memcpy(buf, env, n + 1);
		return 0;
	}
	if (size < sizeof(prefix) + 24)
		return -ENAMETOOLONG;
	memcpy(buf, prefix, sizeof(prefix) - 1);
	n = sizeof(prefix) - 1;
	n += fmt_u64(buf + n, (uint64_t)euid());
	buf[n] = '\0';
	return 0;
}

/* buf = a + b + c (b, c may be NULL); -ENAMETOOLONG when it does not fit. No stdio: this runs in the shim. */
static int cat3(char *buf, size_t size, const char *a, const char *b, const char *c)
{
	const char *part[3] = { a, b, c };
	size_t n = 0, k, i;

	for (i = 0; i < 3; i++) {
		if (!part[i])
			continue;
		k = strlen(part[i]);
		if (n + k + 1 > size)
			return -ENAMETOOLONG;
		memcpy(buf + n, part[i], k);
		n += k;
	}
	buf[n] = '\0';
	return 0;
}

/* dir (of buf's path, cut at its last slash) is ours and no one else can add or replace a file in it */
static int private_dir(const char *path)
{
	char dir[DISE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (!n || n >= sizeof(dir))
		return 0;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == euid() && !(st.st_mode & 022);
}

int dise_ring_fallback_path(char *buf, size_t size)
{
	const char *e;
	int r;

	if ((e = getenv("XDG_RUNTIME_DIR")) && e[0] == '/' &&
	    (r = cat3(buf, size, e, "/dise-ring", NULL)) == 0 && private_dir(buf))
		return 0;
	if ((e = getenv("DISE_HOME")) && e[0])
		r = e[0] == '/' ? cat3(buf, size, e, "/ring", NULL) : -ENOENT; /* relative: no anchor the shim can share */
	else if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/')
		r = cat3(buf, size, e, "/dise/ring", NULL);
	else if ((e = getenv("HOME")) && e[0] == '/')
		r = cat3(buf, size, e, "/.local/state/dise/ring", NULL);
	else
		r = -ENOENT;
	if (r == 0 && !private_dir(buf))
		r = -EPERM;
	return r;
}

int dise_ring_foreign(int err)
{
	/* what dise_ring_map returns for a FIFO, a directory, a symbolic link or a file of someone else's */
	return err == -EPERM || err == -EACCES || err == -ELOOP || err == -EISDIR || err == -ENXIO || err == -ENOTDIR;
}

int dise_ring_choose(char *buf, size_t size)
{
	const char *env = getenv("DISE_RING");
	struct stat st;
	int r = dise_ring_path(buf, size);

	if (r < 0 || (env && env[0]))
		return r; /* named: used as it is, or refused */
	if (lstat(buf, &st) < 0 ||
	    (S_ISREG(st.st_mode) && st.st_uid == euid() && !(st.st_mode & 077)))
		return 0; /* missing (made here) or ours: the default */
	r = dise_ring_fallback_path(buf, size);
	return r < 0 ? r : 1;
}

int dise_ring_map_default(int flags, uint32_t nslots, uint32_t nshards, dise_ring *ret, char *buf, size_t size)
{
	const char *env = getenv("DISE_RING");
	int r = dise_ring_path(buf, size);

	if (r == 0)
		r = dise_ring_map(buf, flags, nslots, nshards, ret);
	if (r >= 0 || !dise_ring_foreign(r) || (env && env[0]))
		return r;
	r = dise_ring_fallback_path(buf, size);
	if (r == 0)
		r = dise_ring_map(buf, flags, nslots, nshards, ret);
	return r < 0 ? r : 1;
}

static uint32_t round_slots(uint32_t want)
{
	uint32_t n = DISE_RING_MIN_SLOTS;

	if (want == 0)
		return DISE_RING_DEFAULT_SLOTS;
	while (n < want && n < DISE_RING_MAX_SLOTS)
		n <<= 1;
	return n;
}

/* Shards: as asked (a power of two), or one per CPU while shards stay big enough. */
static uint32_t pick_shards(uint32_t want, uint32_t slots)
{
	uint32_t n = 1, cpus;

	if (want) {
		while (n < want && n < DISE_RING_MAX_SHARDS)
			n <<= 1;
	} else {
		long c = sysconf(_SC_NPROCESSORS_CONF);

		cpus = c > 0 ? (uint32_t)c : 1;
		while (n < cpus && n < DISE_RING_MAX_SHARDS && slots / (n * 2) >= DISE_RING_SHARD_MIN_SLOTS)
			n <<= 1;
	}
	while (n > 1 && slots / n < DISE_RING_MIN_SLOTS)
		n >>= 1;
	return n;
}

void dise_ring_populate_next(const dise_ring *r, uint32_t nslots)
{
	uintptr_t page = (uintptr_t)getauxval(AT_PAGESZ), a, b;
	uint64_t head, first, last;
	uint32_t shard;

	if (!r->hdr || !r->writable || !nslots || r->win)
		return; /* a window was populated by its mmap */
	if (!page || (page & (page - 1)))
		page = 4096;
	shard = dise_ring_shard_here(r);
	head = atomic_load_explicit(&r->hdr->shards[shard].head, memory_order_relaxed);
	first = head & r->mask;
	last = (head + nslots - 1) & r->mask;
	if (last < first)
		last = r->mask; /* wraps: to the shard's end */
	a = (uintptr_t)dise_ring_slot(r, shard, first) & ~(page - 1);
	b = ((uintptr_t)dise_ring_slot(r, shard, last) + DISE_SLOT_SIZE + page - 1) & ~(page - 1);
	(void)syscall(SYS_madvise, (void *)a, (size_t)(b - a), MADV_POPULATE_WRITE);
}

/*
 * The system calls of mapping the ring, inline (dise/rawsys.h): they run
 * at the start of every watched process, and libc's open, fstat, mmap and
 * close are code most programs do not run that early or at all: each page
 * of libc code a process touches is a page fault (docs/shim-cost.md).
 * Each returns -errno on failure.
 */
static long fstat_sys(int fd, struct stat *st)
{
#if defined(SYS_fstat) && defined(__x86_64__)
	return dise_sys3(SYS_fstat, fd, (long)st, 0); /* glibc's struct stat is the kernel's here */
#else
	return fstat(fd, st) == 0 ? 0 : -errno;
#endif
}

static void *mmap_sys(void *hint, size_t len, int prot, int flags, int fd, off_t off, int *err)
{
	long r = dise_sys6(SYS_mmap, (long)hint, (long)len, prot, flags, fd, (long)off);

	if (r < 0 && r > -4096) {
		*err = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

/*
 * DISE_RING_WINDOW: maps the pages of the next DISE_RING_WINDOW_SLOTS slots
 * of this CPU's shard (to the shard's end at most), populated, and sets
 * out's window; 0, or -errno (then the slots are mapped whole). The head is
 * read from the header, which anyone of the user can write: any value only
 * moves the window within the shard (masked), and a record the window does
 * not hold maps the whole file (dise_ring_unwindow).
 */
static int map_window(int fd, const struct dise_ring_header *h, dise_ring *out, int prot)
{
	uint64_t page = (uint64_t)getauxval(AT_PAGESZ), head, first, last, a, b, shard0;
	uint32_t shard;
	void *win;
	int err = 0;

	if (!page || (page & (page - 1)) || page > DISE_RING_HEADER_SIZE)
		return -EINVAL; /* the slots' file offset must be a page boundary */
	shard = dise_ring_shard_here(out);
	head = atomic_load_explicit(&((struct dise_ring_header *)h)->shards[shard].head, memory_order_relaxed);
	first = head & out->mask;
	last = first + DISE_RING_WINDOW_SLOTS;
	if (last > out->nslots)
		last = out->nslots;
	shard0 = (uint64_t)shard * out->nslots * DISE_SLOT_SIZE; /* the shard's first byte in the slots */
	a = (shard0 + first * DISE_SLOT_SIZE) & ~(page - 1);
	b = (shard0 + last * DISE_SLOT_SIZE + page - 1) & ~(page - 1);
	if (a < shard0 || b > shard0 + out->nslots * DISE_SLOT_SIZE)
		return -EINVAL; /* a shard that does not start and end on a page (a page size beyond 8 KiB) */
	/*
	 * Below the header's page by a hint, not by MAP_FIXED (which would
	 * replace whatever is there): the kernel takes a free range it is
	 * given, else places the window anywhere, which costs a page table and
	 * nothing else. Without the hint the window lands there only by the
	 * kernel's top-down order, which a hole above the header or another
	 * thread's mapping in between breaks.
	 */
	win = mmap_sys((char *)h - (b - a), (size_t)(b - a), prot, MAP_SHARED | MAP_POPULATE, fd,
		       (off_t)(DISE_RING_HEADER_SIZE + a), &err);
	if (win == MAP_FAILED)
		return -err;
	out->win = win;
	out->win_len = (size_t)(b - a);
	out->win_shard = shard;
	out->win_lo = (a - shard0) / DISE_SLOT_SIZE;
	out->win_hi = (b - shard0) / DISE_SLOT_SIZE;
	/* slots[i] is in the window for the window's slots only: never dereferenced for another (ring-producer.c) */
	out->win_base = (struct dise_slot *)((uintptr_t)win - (uintptr_t)a);
	return 0;
}

int dise_ring_unwindow(dise_ring *r)
{
	struct dise_slot *expect = r->win_base;
	long full;

	if (!dise_ring_windowed(r))
		return 0;
	/* a second mapping of the whole file from the header's page: mremap of a shared mapping, old size 0 */
	full = dise_sys6(SYS_mremap, (long)r->hdr, 0, (long)r->map_len, MREMAP_MAYMOVE, 0, 0);
	if (full < 0 && full > -4096)
		return (int)full;
	if (!__atomic_compare_exchange_n(&r->slots, &expect, (struct dise_slot *)(full + DISE_RING_HEADER_SIZE), 0,
					 __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
		(void)dise_sys3(SYS_munmap, full, (long)r->map_len, 0); /* another thread's is there first */
	return 0;
}

static int validate(int fd, dise_ring *out, int flags)
{
	const struct dise_ring_header *h;
	struct stat st;
	void *map, *slots;
	size_t map_len;
	int prot = PROT_READ | ((flags & DISE_RING_WRITE) ? PROT_WRITE : 0);
	uint64_t nslots;
	uint32_t nshards;
	int err = 0;

	/*
	 * The fstat system call, not glibc's fstat: that is fstatat(fd, "",
	 * AT_EMPTY_PATH), and the kernel reading the "" from libc's read-only
	 * data is a page fault in most processes (perf record -e page-faults:
	 * __get_user_1 under vfs_fstatat), one of the few the shim adds.
	 */
	if ((err = (int)fstat_sys(fd, &st)) < 0)
		return err;
	if (!S_ISREG(st.st_mode))
		return -EPERM;
	if (st.st_uid != euid() || (st.st_mode & 077))
		return -EPERM;
	if ((uint64_t)st.st_size < DISE_RING_HEADER_SIZE)
		return -EBADMSG;
	/*
	 * Map first, then judge the header in place: one system call less than
	 * reading it (this runs at the start of every process). The size was
	 * checked a moment ago; the file may still shrink under us, which is
	 * the same exposure every later write to the ring has.
	 */
	map_len = (flags & DISE_RING_SPLIT) ? DISE_RING_HEADER_SIZE : (size_t)st.st_size;
	/*
	 * A writer maps the header page in at once: reading it first would be
	 * a read fault, which also maps the 15 pages around it (fault-around),
	 * the dearest way into a page on this project's VM kind (measured,
	 * issue 11: ~63 000 cycles, against ~8 000 for populating it and
	 * ~15 000 for the first touch after it). The header's own mapping
	 * (DISE_RING_SPLIT: one page) is populated by the mmap itself, one
	 * system call less in every process: a shared mapping of a tmpfs file
	 * needs no write notification, so the page comes in writable and the
	 * first write does not fault (perf stat -e page-faults: the same
	 * count as with MADV_POPULATE_WRITE). A whole-file mapping is
	 * populated by madvise, the header's page only; a kernel without it
	 * says EINVAL: then the read faults, as before. That is the
	 * collector's and the commands' case, never the shim's (it maps
	 * DISE_RING_SPLIT), so libc's syscall() does.
	 */
	map = mmap_sys(NULL, map_len, prot,
		       MAP_SHARED | ((flags & DISE_RING_SPLIT) && (flags & DISE_RING_WRITE) ? MAP_POPULATE : 0), fd, 0,
		       &err);
	if (map == MAP_FAILED)
		return -err;
	if ((flags & DISE_RING_WRITE) && !(flags & DISE_RING_SPLIT))
		(void)syscall(SYS_madvise, map, (size_t)DISE_RING_HEADER_SIZE, MADV_POPULATE_WRITE);
	h = map;
	nslots = h->shard_slots;
	nshards = h->nshards;
	if (h->magic != DISE_RING_MAGIC || h->layout_version != DISE_RING_LAYOUT_VERSION ||
	    h->header_size != DISE_RING_HEADER_SIZE || h->slot_size != DISE_SLOT_SIZE) {
		munmap(map, map_len);
		return -EPROTO;
	}
	if (nslots < DISE_RING_MIN_SLOTS || nslots > DISE_RING_MAX_SLOTS || (nslots & (nslots - 1)) ||
	    nshards < 1 || nshards > DISE_RING_MAX_SHARDS || nslots * nshards > DISE_RING_MAX_SLOTS ||
	    (uint64_t)st.st_size != dise_ring_file_size(nshards, nslots)) {
		munmap(map, map_len);
		return -EBADMSG;
	}
	out->nshards = nshards;
	out->nslots = nslots;
	out->mask = nslots - 1;
	if ((flags & DISE_RING_WINDOW) && (flags & DISE_RING_SPLIT) && (flags & DISE_RING_WRITE) &&
	    map_window(fd, h, out, prot) == 0) {
		slots = out->win_base;
	} else if (flags & DISE_RING_SPLIT) {
		/* the slots on their own, below the header's page (ring.h: DISE_RING_SPLIT says why) */
		slots = mmap_sys(NULL, (size_t)st.st_size - DISE_RING_HEADER_SIZE, prot, MAP_SHARED, fd,
				 DISE_RING_HEADER_SIZE, &err);
		if (slots == MAP_FAILED) {
			munmap(map, map_len);
			return -err;
		}
	} else {
		slots = (char *)map + DISE_RING_HEADER_SIZE;
	}
	out->hdr = map;
	out->slots = slots;
	out->epoch = h->epoch;
	out->map_len = (size_t)st.st_size;
	out->writable = !!(flags & DISE_RING_WRITE);
	return 0;
}

static uint64_t make_epoch(void)
{
	uint64_t e = 0;
	struct timespec ts;

	if (getrandom(&e, sizeof(e), GRND_NONBLOCK) == (ssize_t)sizeof(e) && e)
		return e;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
	return e ? e : 1;
}

static int create(const char *path, uint32_t nslots, uint32_t nshards)
{
	char tmp[DISE_PATH_MAX + 64];
	struct dise_ring_header h;
	struct timespec ts;
	size_t n = strlen(path);
	int fd, r = 0;

	if (n + 40 > sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".new.", 5);
	n += 5;
	n += fmt_u64(tmp + n, (uint64_t)getpid());
	tmp[n] = '\0';

	nslots = round_slots(nslots);
	nshards = pick_shards(nshards, nslots);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)dise_ring_file_size(nshards, nslots / nshards)) < 0) {
		r = -errno;
		goto out;
	}
	memset(&h, 0, sizeof(h));
	h.magic = DISE_RING_MAGIC;
	h.layout_version = DISE_RING_LAYOUT_VERSION;
	h.header_size = DISE_RING_HEADER_SIZE;
	h.slot_size = DISE_SLOT_SIZE;
	h.owner_uid = (uint32_t)euid();
	h.nshards = nshards;
	h.shard_slots = nslots / nshards;
	h.epoch = make_epoch();
	clock_gettime(CLOCK_REALTIME, &ts);
	h.created_wall_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		r = errno ? -errno : -EIO;
		goto out;
	}
	/* Publish: link fails with EEXIST when someone else won the race. */
	if (link(tmp, path) < 0) {
		r = -errno;
		if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOSYS) {
			if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
				r = 0;
			else
				r = -errno;
		}
	}
out:
	unlink(tmp);
	close(fd);
	return r == -EEXIST ? 0 : r;
}

int dise_ring_map(const char *path, int flags, uint32_t nslots, uint32_t nshards, dise_ring *ret)
{
	dise_ring ring = { 0 };
	int fd, r, tries;

	for (tries = 0; tries < 2; tries++) {
		/* O_NONBLOCK: a FIFO at the path opens at once (and is then refused), never waits for a writer */
		fd = (int)dise_sys6(SYS_openat, AT_FDCWD, (long)path,
				    ((flags & DISE_RING_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0, 0,
				    0);
		if (fd >= 0)
			break;
		if (fd != -ENOENT || !(flags & DISE_RING_CREATE) || tries)
			return fd;
		r = create(path, nslots, nshards);
		if (r < 0)
			return r;
	}
	r = validate(fd, &ring, flags);
	(void)dise_sys3(SYS_close, fd, 0, 0);
	if (r < 0)
		return r;
	*ret = ring;
	return 0;
}

static void sat_add(uint64_t *sum, uint64_t v)
{
	*sum = *sum > UINT64_MAX - v ? UINT64_MAX : *sum + v;
}

void dise_ring_stats(const dise_ring *r, struct dise_ring_stats *ret)
{
	const struct dise_ring_header *h = r->hdr;
	uint32_t i;

	memset(ret, 0, sizeof(*ret));
	if (!h)
		return;
	for (i = 0; i < r->nshards; i++) {
		struct dise_ring_shard *s = (struct dise_ring_shard *)&h->shards[i];
		uint64_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);

		sat_add(&ret->head, head);
		sat_add(&ret->tail, tail);
		sat_add(&ret->written, atomic_load_explicit(&s->written, memory_order_relaxed));
		sat_add(&ret->dropped, atomic_load_explicit(&s->dropped, memory_order_relaxed));
		sat_add(&ret->torn, atomic_load_explicit(&s->torn, memory_order_relaxed));
		if (head >= tail && head - tail <= r->nslots)
			ret->pending += head - tail;
		else
			ret->bad_shards++;
	}
	ret->corrupt = atomic_load_explicit(&((struct dise_ring_header *)h)->corrupt, memory_order_relaxed);
	ret->consumer_pid = atomic_load_explicit(&((struct dise_ring_header *)h)->consumer_pid, memory_order_relaxed);
	ret->layout_version = h->layout_version;
	ret->nshards = r->nshards;
	ret->nslots = r->nslots * r->nshards;
	ret->epoch = r->epoch;
}

int dise_ring_regions(const dise_ring *r, void *ret_p[DISE_RING_MAX_REGIONS], size_t ret_n[DISE_RING_MAX_REGIONS])
{
	struct dise_slot *slots;
	int k = 1;

	if (!r->hdr)
		return 0;
	slots = __atomic_load_n(&r->slots, __ATOMIC_ACQUIRE);
	ret_p[0] = r->hdr;
	if (slots == (struct dise_slot *)((char *)r->hdr + DISE_RING_HEADER_SIZE)) {
		ret_n[0] = r->map_len;
		return 1;
	}
	ret_n[0] = DISE_RING_HEADER_SIZE;
	if (r->win) {
		ret_p[k] = r->win;
		ret_n[k++] = r->win_len;
		if (slots != r->win_base) { /* the whole file, mapped since (dise_ring_unwindow) */
			ret_p[k] = (char *)slots - DISE_RING_HEADER_SIZE;
			ret_n[k++] = r->map_len;
		}
		return k;
	}
	ret_p[k] = slots;
	ret_n[k++] = r->map_len - DISE_RING_HEADER_SIZE;
	return k;
}

void dise_ring_unmap(dise_ring *r)
{
	void *p[DISE_RING_MAX_REGIONS];
	size_t n[DISE_RING_MAX_REGIONS];
	int i, k;

	if (!r)
		return;
	k = dise_ring_regions(r, p, n);
	for (i = 0; i < k; i++)
		munmap(p[i], n[i]);
	memset(r, 0, sizeof(*r));
}
