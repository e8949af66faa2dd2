/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring: one file per user (/dev/shm/dise-<uid>, or
 * $DISE_RING), written by any number of producer processes and threads,
 * read by one consumer.
 *
 * Layout: a 4096-byte header, then nshards shards of nslots slots of
 * DISE_SLOT_SIZE bytes each. A producer writes to the shard of the CPU it
 * runs on (sched_getcpu(), which glibc answers from rseq without a system
 * call), so producers on different CPUs never touch the same cache line;
 * each shard is its own ring, described below. A record of n bytes occupies
 * ceil(n / DISE_SLOT_DATA) consecutive slots of one shard.
 *
 * Protocol of a shard (a bounded MPSC queue in the manner of D. Vyukov's,
 * with multi-slot reservations and a durable consumer cursor):
 *  - slot i's `seq` is `pos` when the slot is free for the producer that
 *    reserves position `pos` (0 for every slot of lap 0, so that a new ring
 *    need not touch its slots), `pos + 1` once that producer committed it,
 *    and `pos | DISE_SEQ_TORN` when the consumer gave up waiting for it.
 *  - reserve: load head; the reservation [head, head + n) is free when the
 *    seq of its last slot says free (slots are freed in order); CAS head to
 *    head + n. A full shard is a counted drop, never a wait.
 *  - commit: fill the data, then CAS each slot's seq from free to pos + 1,
 *    last slot first, so that the first slot's commit publishes the record.
 *    The CAS (not a store) makes a producer that resumes after the consumer
 *    declared its slot torn lose cleanly instead of corrupting the next lap.
 *  - read: the consumer copies a committed record out, then validates it;
 *    the slots stay owned by the ring until release. Across shards it hands
 *    records out oldest first (by their CLOCK_MONOTONIC stamp).
 *  - release: after the records handed out are durable, the consumer sets
 *    each released slot's seq to pos + nslots (free for the next lap) and
 *    stores the shard's tail. A consumer that dies before release re-reads
 *    those records after restart; each carries a unique id (epoch, shard,
 *    position), so a store that keys on it inserts nothing twice.
 *  - torn: a slot reserved (pos < head) but not committed for longer than
 *    the consumer's torn timeout belongs to a producer that died between
 *    reserve and commit (SIGKILL): the consumer CASes it to TORN, counts it
 *    once per record, skips it and the orphaned rest of that record.
 *
 * Trust: any process of the user can write the file. Producers keep private
 * copies of the geometry so that no value read from shared memory is ever
 * used as an index without masking; the consumer copies data out before it
 * looks at it and bounds every length, keeps its own copy of each tail and
 * never looks more than one lap past it, and repairs heads, tails and stray
 * slots it finds out of protocol (dise_ring_repair).
 */
#ifndef DISE_RING_H
#define DISE_RING_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event.h"

#define DISE_RING_MAGIC UINT64_C(0x474e495245534944) /* "DISERING" */
#define DISE_RING_LAYOUT_VERSION 5u /* 5: the arm table after the header (dise_arm_put); 4: the route table left the ring */
#define DISE_RING_HEADER_SIZE 4096u
#define DISE_SLOT_SIZE 128u
#define DISE_SLOT_HDR 16u
#define DISE_SLOT_DATA (DISE_SLOT_SIZE - DISE_SLOT_HDR)
#define DISE_RING_MIN_SLOTS 64u          /* per shard */
#define DISE_RING_MAX_SLOTS (1u << 24)   /* in all */
#define DISE_RING_DEFAULT_SLOTS 65536u   /* in all: 8 MiB + 4 KiB; tmpfs pages are allocated as touched */
#define DISE_RING_MAX_SHARDS 16u
#define DISE_RING_SHARD_MIN_SLOTS 4096u  /* automatic sharding keeps shards at least this big */
#define DISE_RECORD_MAX_SLOTS ((DISE_RECORD_MAX + DISE_SLOT_DATA - 1) / DISE_SLOT_DATA)
#define DISE_SEQ_TORN (UINT64_C(1) << 63)

/* Per-shard control block: one line the producers share, one the consumer owns. */
struct dise_ring_shard {
	_Atomic uint64_t head;    /* next free position */
	_Atomic uint64_t written; /* records reserved */
	_Atomic uint64_t dropped; /* records dropped because the shard was full */
	uint8_t pad0[64 - 24];
	_Atomic uint64_t tail; /* durable cursor: positions below it are free */
	_Atomic uint64_t torn; /* records abandoned by a producer that died */
	uint8_t pad1[64 - 16];
};

struct dise_ring_header {
	/* Immutable after creation; published by linking the file into place. */
	uint64_t magic;
	uint32_t layout_version;
	uint32_t header_size;
	uint32_t slot_size;
	uint32_t owner_uid;
	uint32_t nshards;
	uint32_t shard_slots; /* slots per shard, a power of two */
	uint64_t epoch;       /* random: tells apart two incarnations of the same path */
	uint64_t created_wall_ns;
	uint8_t pad0[64 - 48];

	/* The consumer's line. */
	_Atomic uint64_t corrupt; /* records the consumer rejected as malformed */
	_Atomic uint32_t consumer_pid;
	_Atomic uint32_t wake;   /* futex word a consumer may sleep on: DISE_WAKE_* */
	_Atomic uint32_t nroutes; /* routes published in the route file: 0 lets every process skip the lookup (a hint only, see below) */
	uint32_t pad2;
	_Atomic uint64_t ended; /* the last failing EXIT the consumer read: pid << 32 | its CLOCK_MONOTONIC ms (DISE_ENDED_MS) */
	uint8_t pad1[64 - 32];

	struct dise_ring_shard shards[DISE_RING_MAX_SHARDS];
};

struct dise_slot {
	_Atomic uint64_t seq;
	uint16_t frag;  /* index of this slot in its record */
	uint16_t nfrag; /* slots the record spans */
	uint32_t reserved;
	uint8_t data[DISE_SLOT_DATA];
};

_Static_assert(sizeof(struct dise_ring_shard) == 128, "ring shard layout");
_Static_assert(sizeof(struct dise_ring_header) == 128 + 128 * DISE_RING_MAX_SHARDS, "ring header layout");
_Static_assert(sizeof(struct dise_ring_header) <= DISE_RING_HEADER_SIZE, "ring header fits its page");
_Static_assert(sizeof(struct dise_slot) == DISE_SLOT_SIZE, "slot layout");

/*
 * The arm table: in the header page after the header, where a process of a
 * canary rollout leaves the arm it took (the route's key and 0 stable / 1
 * canary) under its pid, so that what it executes (the same pid) and what
 * it spawns (whose parent it is) take the same arm: a wrapper and the tool
 * it runs never mix versions. Nothing in the program's environment.
 *
 * Untrusted like the rest of the ring: an entry names no file, only which
 * of the two arms of a route whose key it holds; the route itself (both
 * targets) comes from the route file. A torn or forged entry either fails
 * its check word (ignored: the arm is drawn) or picks one of the two arms
 * the route allows. An entry stays until its process exits (cleared) or is
 * overwritten: a process killed by SIGKILL leaves its entry, which a later
 * process of the same pid (or its child) may take: one of the two arms
 * again. Lock-free; no system call. ring/routes.c.
 */
#define DISE_ARMS 112u       /* entries */
#define DISE_ARM_PROBE 8u    /* an entry lives at pid % DISE_ARMS or one of the 7 after it */
struct dise_arm_entry {
	_Atomic uint64_t key;  /* dise_route_key() of the route */
	_Atomic uint32_t pid;
	_Atomic uint32_t word; /* 0: empty; else dise_arm_word(): a check of key and pid, bit 0 the arm */
};
_Static_assert(sizeof(struct dise_ring_header) + DISE_ARMS * sizeof(struct dise_arm_entry) <= DISE_RING_HEADER_SIZE,
	       "the arm table fits the header page");

/* A mapping of the ring. Geometry fields are private copies, never re-read. */
typedef struct dise_ring {
	struct dise_ring_header *hdr;
	struct dise_slot *slots; /* shard s, slot i: slots[s * nslots + i] */
	uint32_t nshards;
	uint64_t nslots; /* per shard */
	uint64_t mask;
	uint64_t epoch;
	size_t map_len;
	int writable;
	/*
	 * DISE_RING_WINDOW: until a record falls outside it, only a window of
	 * one shard's slots is mapped (win, win_len bytes: slots [win_lo,
	 * win_hi) of shard win_shard) and slots is win_base, an address valid
	 * for those slots only (the producer checks, ring-producer.c). The
	 * first record outside it maps the whole file (dise_ring_unwindow) and
	 * slots moves there, once and for good; the window stays mapped (a
	 * thread may still be writing through it). NULL win: not windowed.
	 */
	struct dise_slot *win_base;
	void *win;
	size_t win_len;
	uint64_t win_lo, win_hi;
	uint32_t win_shard;
} dise_ring;

typedef struct dise_ring_resv {
	uint64_t pos;    /* first position, in the shard */
	uint32_t nslots; /* slots reserved */
	uint32_t len;    /* record bytes */
	uint32_t shard;
} dise_ring_resv;

static inline size_t dise_ring_file_size(uint32_t nshards, uint64_t nslots)
{
	return DISE_RING_HEADER_SIZE + (size_t)nshards * (size_t)nslots * DISE_SLOT_SIZE;
}

static inline struct dise_slot *dise_ring_slot(const dise_ring *r, uint32_t shard, uint64_t pos)
{
	/* a relaxed load: a windowed ring's slots may move to the whole mapping (another thread) */
	return &__atomic_load_n(&r->slots, __ATOMIC_RELAXED)[(uint64_t)shard * r->nslots + (pos & r->mask)];
}

/* Whether r is a window still (every slot access is checked against it first: ring-producer.c). */
static inline int dise_ring_windowed(const dise_ring *r)
{
	return r->win_base && __atomic_load_n(&r->slots, __ATOMIC_ACQUIRE) == r->win_base;
}

/* A record's id: unique for the life of the ring file (with its epoch). */
static inline uint64_t dise_ring_id(uint32_t shard, uint64_t pos)
{
	return ((uint64_t)shard << 56) | (pos & ((UINT64_C(1) << 56) - 1));
}

struct dise_ring_stats {
	uint64_t head, tail, written, dropped, torn, corrupt; /* summed over shards (saturating: anybody can write them) */
	uint64_t pending;                                     /* head - tail, over the shards where that makes sense */
	uint32_t bad_shards; /* shards whose head is outside [tail, tail + slots]: a stray store, the consumer repairs it */
	uint64_t nslots;                                      /* in all */
	uint64_t epoch;
	uint32_t nshards, layout_version, consumer_pid;
};

/* ---- mapping (ring/ring-map.c) ---- */

enum {
	DISE_RING_WRITE = 1 << 0,  /* map read-write (producers, consumer); else read-only */
	DISE_RING_CREATE = 1 << 1, /* create the file when it does not exist */
	/*
	 * Map the header page and the slots as two mappings, the header's
	 * first (for the shim). A new process's first mapping lands next to
	 * its libraries, in a 2 MiB stretch whose page table exists already;
	 * the header at the bottom of one 8 MiB mapping sat in a stretch of
	 * its own, and its first touch allocated a page table too: 74 us
	 * against 17 us in a fresh process on this project's VM kind
	 * (docs/shim-cost.md). A fork child's page tables of the libraries'
	 * data are copied, so there too the header's fault finds its table.
	 */
	DISE_RING_SPLIT = 1 << 2,
	/*
	 * With DISE_RING_SPLIT and DISE_RING_WRITE (the shim): of the slots,
	 * map only a window of the pages of the current CPU's shard's next
	 * DISE_RING_WINDOW_SLOTS slots, populated by the mmap, below the
	 * header's page: the page a short process's START and EXIT go to then
	 * shares the header's (and the libraries') page table. The 8 MiB of
	 * slots as one mapping put that page anywhere in 8 MiB, in a 2 MiB
	 * stretch of its own: a page table allocated in every process, the
	 * dearest part of the shim's start on this project's VM kind
	 * (docs/shim-cost.md, fourth pass). A record outside the window maps
	 * the whole file then (dise_ring_unwindow: no file descriptor kept).
	 */
	DISE_RING_WINDOW = 1 << 3,
};
#define DISE_RING_WINDOW_SLOTS 16u /* a short process's START and EXIT, with room (1 or 2 pages) */
#define DISE_RING_MAX_REGIONS 3

/*
 * Writes the ring path ($DISE_RING, else /dev/shm/dise-<uid>) into buf.
 * Returns 0 or -ENAMETOOLONG. Async-signal-safe, no allocation.
 */
int dise_ring_path(char *buf, size_t size);

/*
 * Another user can pre-create /dev/shm/dise-<uid> (a file, a symbolic link,
 * a directory, a FIFO): the default path is then not usable, and the ring
 * lives at the fallback instead, a place only this user can create files
 * in: $XDG_RUNTIME_DIR/dise-ring when that directory is ours and writable
 * by no one else, else "ring" in the state directory ($DISE_HOME, else
 * $XDG_STATE_HOME/dise, else ~/.local/state/dise; it must exist, be ours
 * and writable by no one else). $DISE_RING, when set, is used as it is:
 * no fallback.
 *
 * dise_ring_fallback_path: that path into buf; 0 or -errno (-EPERM: the
 * directory is not private, -ENOENT: none to be had).
 * dise_ring_foreign: whether dise_ring_map's error says "not our ring file"
 * (a reason to fall back) rather than "a ring file of ours gone bad".
 * dise_ring_choose: the path to use (for the collector and commands): 0
 * for the default (or $DISE_RING), 1 for the fallback, or -errno. One lstat.
 * dise_ring_map_default: for a producer: maps the default and only when
 * that fails as foreign the fallback (no system call more in the normal
 * case); the path used into buf; 0, 1 (fell back) or -errno.
 */
int dise_ring_fallback_path(char *buf, size_t size);
int dise_ring_foreign(int err);
int dise_ring_choose(char *buf, size_t size);
int dise_ring_map_default(int flags, uint32_t nslots, uint32_t nshards, dise_ring *ret, char *buf, size_t size);

/*
 * Maps the ring at path. With DISE_RING_CREATE a missing file is created with
 * `nslots` slots in all (0: DISE_RING_DEFAULT_SLOTS, else rounded to a power
 * of two in range) in `nshards` shards (0: one per CPU, up to
 * DISE_RING_MAX_SHARDS, keeping shards at least DISE_RING_SHARD_MIN_SLOTS
 * big), and published atomically, so no reader ever sees a half-initialised
 * header.
 * Rejects a file that is not a regular file owned by the caller's uid with no
 * group/other access (-EPERM), whose magic or layout version differ
 * (-EPROTO), or whose geometry does not match its size (-EBADMSG).
 * Returns 0 or -errno; *ret is untouched on failure. Not async-signal-safe.
 */
int dise_ring_map(const char *path, int flags, uint32_t nslots, uint32_t nshards, dise_ring *ret);

/*
 * After an upgrade: when the file at path is a ring of ours (the user's,
 * the magic) with an OLDER layout version than this build's, and no
 * consumer holds it, renames it to "<path>.layout<N>" (into out->aside), so
 * that the next DISE_RING_CREATE makes a fresh ring; processes still
 * running the older shim keep writing into the file moved aside. Returns 1
 * when moved; 0 when there is nothing to move (not a ring of ours, this
 * layout, or a NEWER one: never moved, a newer collector may consume it;
 * out->layout says which, 0 when not a ring); -EBUSY when its consumer
 * (an older collector) still runs; else -errno (-ENOENT: no file).
 * The consumer's side only (not in the shim's objects).
 */
struct dise_ring_retired {
	uint32_t layout;
	char aside[DISE_PATH_MAX + 32];
};
int dise_ring_retire_older(const char *path, struct dise_ring_retired *out);

/*
 * Maps in, writable, the page(s) of the next nslots slots of the current
 * CPU's shard (MADV_POPULATE_WRITE): a short process's records go there,
 * and its first touch of them would otherwise be a read fault that also
 * maps the pages around (fault-around), the dearest way into a page
 * (docs/shim-cost.md). A hint only: a kernel without it, or another
 * producer taking those slots first, only means a page fault later.
 * One system call; async-signal-safe.
 */
void dise_ring_populate_next(const dise_ring *r, uint32_t nslots);

/*
 * The mapped regions of r: one, two when mapped with DISE_RING_SPLIT, up to
 * DISE_RING_MAX_REGIONS with DISE_RING_WINDOW (the header's page, the
 * window, the whole file once mapped); their count. Async-signal-safe.
 */
int dise_ring_regions(const dise_ring *r, void *ret_p[DISE_RING_MAX_REGIONS], size_t ret_n[DISE_RING_MAX_REGIONS]);

/*
 * A windowed ring's way out of its window: maps the whole file (a second
 * mapping of the header's pages, mremap with old size 0: the file
 * descriptor is long closed) and moves slots there, once. 0, or -errno
 * (the record is then dropped and counted). Async-signal-safe (one
 * system call, and one munmap for the loser of a race between threads).
 */
int dise_ring_unwindow(dise_ring *r);

/* Unmaps; accepts a ring that was never mapped. */
void dise_ring_unmap(dise_ring *r);

/* Counters summed over the shards. Reads shared memory: a consumer uses dise_ring_reader_stats. */
void dise_ring_stats(const dise_ring *r, struct dise_ring_stats *ret);

/* The same, by value, for tests, tools and benchmarks. */
static inline struct dise_ring_stats dise_ring_stats_of(const dise_ring *r)
{
	struct dise_ring_stats s;

	dise_ring_stats(r, &s);
	return s;
}

/* ---- producer (ring/ring-producer.c): all async-signal-safe, lock-free,
 *      no allocation and no system call ---- */

/* The shard a producer on the current CPU writes to. */
uint32_t dise_ring_shard_here(const dise_ring *r);

/*
 * Reserves room for a record of len bytes in the shard of the current CPU.
 * Returns 0, -ENOSPC when the shard is full, -EMSGSIZE when the record can
 * never fit (both counted as dropped).
 */
int dise_ring_reserve(dise_ring *r, uint32_t len, dise_ring_resv *ret);

/* Copies n bytes of the record at offset off. Bounded by the reservation. */
void dise_ring_write(dise_ring *r, const dise_ring_resv *v, uint32_t off, const void *src, uint32_t n);

/* Publishes the record. */
void dise_ring_commit(dise_ring *r, const dise_ring_resv *v);

/* Gives the reservation back as a PAD record the consumer skips. */
void dise_ring_discard(dise_ring *r, const dise_ring_resv *v);

/* reserve + write + commit of a contiguous record. Returns 0 or -errno. */
int dise_ring_put(dise_ring *r, const void *rec, uint32_t len);

/*
 * The header's wake word, what the consumer waits for:
 *  - DISE_WAKE_NONE: it is awake (it looks at the ring before it sleeps);
 *  - DISE_WAKE_ANY: it sleeps until any record (idle: the first record
 *    after a quiet moment is stored at once);
 *  - DISE_WAKE_URGENT: it gathers a stream and sleeps the gather's rest
 *    unless a record that may be a strike comes (dise_ring_urgent), its
 *    producer's shard fills (DISE_WAKE_FILL), or its own process asks
 *    (dise_ring_notify). Every other value is read as DISE_WAKE_ANY, and
 *    a producer built before DISE_WAKE_URGENT wakes the consumer for any
 *    nonzero value: at worst a wake-up too many, never one too few.
 */
enum { DISE_WAKE_NONE = 0, DISE_WAKE_ANY = 1, DISE_WAKE_URGENT = 2 };
/* a consumer waiting for DISE_WAKE_URGENT is woken anyway once a shard holds 1/DISE_WAKE_FILL of its slots unreleased */
#define DISE_WAKE_FILL 4u

/*
 * Whether a record must wake a consumer that gathers (DISE_WAKE_URGENT): an
 * end that may be a strike. Coarser than the collector's own judgement
 * (collector/outcome.c, never finer): a CRASH, an EXIT or a REAP whose status is
 * not 0 (an exit code, or a wait status: a nonzero exit, any signal).
 */
static inline int dise_ring_urgent(uint32_t type, int32_t status)
{
	return type == DISE_REC_CRASH || ((type == DISE_REC_EXIT || type == DISE_REC_REAP) && status != 0);
}

/*
 * After committing a record: wakes the consumer if it sleeps waiting for
 * it (it says so in the header's wake word, DISE_WAKE_*): a system call
 * only then, so a busy or gathering consumer costs producers nothing but a
 * fence and a load or three. urgent: dise_ring_urgent() of the record.
 * Async-signal-safe.
 */
void dise_ring_notify_record(dise_ring *r, int urgent);

/* The same, urgent: wakes the consumer whatever it waits for (a record of any kind, a word to the collector from its own threads). */
void dise_ring_notify(dise_ring *r);

/*
 * A REAP whose child's own failing EXIT the consumer already read (the
 * header's ended word: it stores it before it sleeps) says nothing a
 * gathering consumer waits for: the run has its end, the EXIT woke it.
 * A shell's failing child woke the gather twice (its EXIT, then the
 * shell's REAP). The word must name the child's pid and be at most
 * DISE_ENDED_MS older than the REAP (a pid used again by an unwatched
 * child that fails needs the wake: 10 s is far less than a machine takes
 * to go through its pids, and far more than a parent takes to reap a child
 * it waits for); a REAP of a child that wrote no end (a
 * SIGKILL, an unwatched program) stays urgent. A hostile word only makes a
 * REAP wait for the gather's end (late, never lost), as a hostile 0 in the
 * wake word always could.
 */
#define DISE_ENDED_MS 10000u

/*
 * dise_ring_put of a record laid out by record/ (a struct dise_rec_hdr
 * first), then the notify that record asks for: dise_ring_urgent of its type
 * and status, and for a REAP not when the consumer read its child's own
 * failing end (DISE_ENDED_MS). Returns 0 or -errno (nothing notified).
 * Async-signal-safe.
 */
int dise_ring_put_record(dise_ring *r, const void *rec, uint32_t len);

/* ---- consumer (ring/ring-consumer.c): one consumer per ring, not
 *      thread-safe, not async-signal-safe ---- */

typedef struct dise_ring_reader dise_ring_reader;

enum {
	DISE_READER_PEEK = 1 << 0, /* read-only: never release, never mark torn */
};

/*
 * Opens a reader on a mapped ring. A consuming reader (flags 0) takes an
 * exclusive lock on the ring file so that a second consumer fails with
 * -EBUSY. torn_timeout_ms: how long a reserved slot may stay uncommitted
 * before it is declared torn (0: 1000 ms). Returns 0 or -errno.
 */
int dise_ring_reader_new(const char *path, int flags, unsigned torn_timeout_ms, dise_ring_reader **ret);
dise_ring_reader *dise_ring_reader_free(dise_ring_reader *rd);

/*
 * Copies the next complete record into buf (at least DISE_RECORD_MAX bytes):
 * of the records ready in all shards, the one stamped earliest. Returns 1
 * with *ret_len and *ret_id (dise_ring_id()) set, 0 when nothing is ready,
 * or -errno: -EBADMSG for a malformed slot sequence (already counted and
 * skipped: call again). Never blocks.
 */
int dise_ring_read(dise_ring_reader *rd, void *buf, size_t size, size_t *ret_len, uint64_t *ret_id);

/* Frees the slots of every record handed out so far: call once those records are durable. */
int dise_ring_release(dise_ring_reader *rd);

/*
 * Says in the ring header how many routes the route file holds (0: none, so
 * that every process skips the lookup with one load). Call after
 * dise_routes_write.
 */
int dise_ring_routes_announce(dise_ring_reader *rd, uint32_t n);

/*
 * Sleeps until a producer commits something new (dise_ring_notify) or
 * timeout_ms pass. Returns at once when records are already waiting; a
 * reserved slot not committed yet shortens the sleep (a few wakeups until
 * its torn deadline, never a spin). Returns 0, or -errno from the futex.
 */
int dise_ring_reader_wait(dise_ring_reader *rd, unsigned timeout_ms);

/*
 * The same, but returns at once while *unless is nonzero: another thread of
 * the reader's process that sets it, then calls dise_ring_notify on its own
 * mapping of the ring, is never missed (the collector's resolver asking the
 * ingest thread to publish routes). NULL: dise_ring_reader_wait.
 */
int dise_ring_reader_wait_unless(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless);

/*
 * The same, but a committed record ends the sleep only when it may be a
 * strike (its producer's dise_ring_notify_record said urgent), when its
 * producer's shard is filling (DISE_WAKE_FILL), or from dise_ring_notify:
 * a consumer gathering a stream, which reads the rest when the sleep ends.
 * Records already waiting when it is called end it at once, whatever they
 * are (their kind is not known until they are read).
 */
int dise_ring_reader_wait_urgent(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless);

/*
 * Every wait of rd returns at once while *stop is nonzero (NULL: none): a
 * stop flag a signal handler sets. Looked at after the wait says it sleeps,
 * so a stop that came between the caller's last look and the sleep is not
 * slept through; the signal itself ends a sleep that began before it
 * (EINTR), when it is delivered to the waiting thread (keep the others from
 * taking it: pthread_sigmask).
 */
void dise_ring_reader_set_stop(dise_ring_reader *rd, const volatile sig_atomic_t *stop);

/*
 * Puts back what a stray store into the ring broke (the consumer is the
 * only party that knows where the lap is): a shard's head outside
 * [tail, tail + nslots] is moved to the end of the lap (what the lap holds is
 * read, or torn, as usual), a tail that is not the consumer's is restored,
 * and when a shard's drops rose while it had nothing to read (a wedge: a
 * slot ahead of head that does not say free, so every producer sees a full
 * shard), the slots ahead of head are freed again. Cheap but for that scan
 * of one lap, which runs only on rising drops (and at the first call).
 * Returns how many kinds of repair were made (0: nothing was wrong), with
 * what in *ret, or -errno.
 */
struct dise_ring_repair {
	uint32_t heads; /* heads moved back into their lap */
	uint32_t tails; /* tails put back */
	uint64_t slots; /* slots ahead of head freed */
};
int dise_ring_repair(dise_ring_reader *rd, struct dise_ring_repair *ret);

/* Counts a record the caller found malformed after reading it. */
void dise_ring_count_corrupt(dise_ring_reader *rd);

/*
 * Is the file at path no longer the one this (consuming) reader reads: gone,
 * or another file (`dise ring reset`, then a new ring)? One lstat and one
 * fstat: cheap enough for every idle wakeup. Returns 1 or 0.
 */
int dise_ring_reader_replaced(const dise_ring_reader *rd, const char *path);

void dise_ring_reader_stats(const dise_ring_reader *rd, struct dise_ring_stats *ret);
uint64_t dise_ring_reader_epoch(const dise_ring_reader *rd);


/* ---- routes (ring/routes.c) ----
 *
 * The route table is a file of its own beside the ring ("<ring>.routes"),
 * written only by the collector: a new file each time, fully written, then
 * renamed into place, so a reader never sees a half-written table and no
 * table has a fixed capacity or path length. Watched processes only read
 * it (pread, no mapping), and only after checking that it is a regular
 * file owned by their own euid (or root) that neither group nor others may
 * write. So a producer, which can write the ring, cannot write a route: a
 * process that dropped privileges keeps its writable mapping of the ring,
 * but never had a writable handle on the route file. The ring header's
 * `nroutes` is only a hint that saves the open when nothing is routed: a
 * forger that clears it makes processes run their own file (what they would
 * run without dise); one that sets it costs them an open. It never chooses
 * a target.
 *
 * Layout: a header, nbuckets (a power of two) entries, then the target
 * paths. An identity lives in bucket hash(id) & (nbuckets - 1) or one of the
 * DISE_ROUTE_PROBE after it (the writer grows the table until every entry
 * fits); an entry with target_len 0 is empty.
 */
#define DISE_ROUTES_MAGIC UINT64_C(0x5345545554524444) /* "DDRTUTES" */
#define DISE_ROUTES_VERSION 4u /* 4: a canary target (regenerated versions); 3: weighted routes; another version routes nothing */
#define DISE_ROUTE_PROBE 8u
#define DISE_ROUTES_MAX_BUCKETS (1u << 24)

struct dise_routes_header {
	uint64_t magic;
	uint32_t version;
	uint32_t nbuckets;
	uint32_t nentries;
	uint32_t reserved;
	uint64_t strings_len; /* bytes of paths after the buckets */
};

struct dise_route_entry {
	struct dise_file_id from; /* a file that ran as a pruned version */
	struct dise_file_id to;   /* the identity of the target when it was published */
	int64_t to_ctime_ns;      /* and its ctime: a write, chmod or utimensat since changes it, and no one can set it */
	uint64_t target_off;      /* in the strings, after the buckets */
	uint32_t target_len;      /* without the NUL; 0: an empty bucket */
	uint32_t flags;           /* DISE_ROUTE_* */
	/*
	 * 0: a plain route, every run of `from` runs the target. 1-99: a
	 * canary rollout, `from` is the canary and the target the stable
	 * version: that percent of runs keep running `from`, the rest run the
	 * target (dise_route_arm). A value above 99 is corrupt: no route.
	 */
	uint32_t canary_pct;
	/*
	 * canary_len 0: the canary arm runs `from` itself (a deploy's canary).
	 * Else the canary arm runs this target instead (a regenerated version
	 * rolled out over the route of a pruned one: neither arm runs `from`),
	 * checked as the stable target is, with its own identity and ctime.
	 */
	uint32_t canary_len;
	struct dise_file_id canary_to;
	int64_t canary_ctime_ns;
	uint64_t canary_off; /* in the strings */
};

enum {
	DISE_ROUTE_BESIDE = 1 << 0, /* the target is a copy beside the original file (else in the store) */
};

struct dise_route_in {
	struct dise_file_id from, to;
	int64_t to_ctime_ns;
	const char *target; /* absolute */
	uint32_t flags;
	uint32_t canary_pct; /* 0: plain; 1-99: see struct dise_route_entry */
	const char *canary_target; /* NULL: the canary arm runs `from`; else absolute, with its identity: */
	struct dise_file_id canary_to;
	int64_t canary_ctime_ns;
};

/*
 * The arm a process takes on a weighted route of canary_pct percent: 1 the
 * canary (its own file), 0 the stable target. Uniform over runs: a mix of
 * the process's pid and its start time (both known at start, no system
 * call) and the route's key (so two tools' rollouts are independent).
 */
static inline int dise_route_arm(uint64_t key, uint32_t pid, uint64_t start_ns, uint32_t canary_pct)
{
	uint64_t z = key ^ ((uint64_t)pid << 32) ^ start_ns;

	/* splitmix64's finaliser: every input bit reaches every output bit */
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (uint32_t)(z % 100u) < canary_pct;
}

/* A route's key: a hash of its `from` identity (what the arm table names, so that an exec chain keeps its arm). */
uint64_t dise_route_key(const struct dise_file_id *from);

/*
 * The arm table (above): dise_arm_put leaves (key, arm) under pid (key 0:
 * nothing); dise_arm_get finds pid's entry (1 with *ret_key and *ret_arm,
 * 0 when none passes its check); dise_arm_clear empties pid's entry. On a
 * writable mapping (put, clear); async-signal-safe, no system call.
 */
void dise_arm_put(const dise_ring *r, uint32_t pid, uint64_t key, int arm);
int dise_arm_get(const dise_ring *r, uint32_t pid, uint64_t *ret_key, int *ret_arm);
void dise_arm_clear(const dise_ring *r, uint32_t pid);

/*
 * Whether the interpreter named base (a #! line's, without its directory)
 * reads its script itself: a routed script of one is handed the routed
 * copy under its own name (shim/intercept-open.c), so that `$0` is the path
 * run. Others (env, which executes another interpreter) run the copy by
 * its own name. Async-signal-safe.
 */
static inline int dise_route_script_reader(const char *base)
{
	static const char *const readers[] = { "sh", "dash", "bash", "python3", "perl" };
	unsigned i;

	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
		if (strcmp(base, readers[i]) == 0)
			return 1;
	return strncmp(base, "python3.", 8) == 0 && base[8] >= '0' && base[8] <= '9';
}

/* "<ring path>.routes". Returns 0 or -ENAMETOOLONG. Async-signal-safe. */
int dise_routes_path(const char *ring_path, char *buf, size_t size);

/*
 * Writes a new route table of n entries at path (atomically: a temporary
 * file renamed). Returns 0 or -errno (-E2BIG: more than
 * DISE_ROUTES_MAX_BUCKETS would be needed; -EINVAL: a bad target or weight).
 */
int dise_routes_write(const char *path, const struct dise_route_in *e, size_t n);

/*
 * Looks id up in the route table at path, which must be a regular file
 * owned by owner (or root), not writable by group or others. Copies the
 * target into out (size bytes) and its published identity into *ret_to
 * (and its ctime into *ret_ctime_ns, its flags into *ret_flags, its
 * canary percent into *ret_canary_pct when not NULL). Returns 1, 0 when there is no route (or no usable table), or -errno.
 * No allocation; a few system calls (open, fstat, pread, close).
 */
int dise_routes_lookup(const char *path, uint32_t owner, const struct dise_file_id *id, char *out, size_t size,
		       struct dise_file_id *ret_to, int64_t *ret_ctime_ns, uint32_t *ret_flags, uint32_t *ret_canary_pct);

/*
 * The canary target of id's weighted route (table at path, checked as
 * dise_routes_lookup checks it): 1 with the target in out and its
 * published identity and ctime, 0 when the canary arm runs id's file
 * itself (or there is no such route), or -errno.
 */
int dise_routes_canary(const char *path, uint32_t owner, const struct dise_file_id *id, char *out, size_t size,
		       struct dise_file_id *ret_to, int64_t *ret_ctime_ns);

/*
 * Whether a route's target may be executed in place of the routed file: a
 * regular executable file nobody can write, owned by owner or root, with
 * the published identity and ctime (not written or chmod'ed since), in a
 * directory of owner or root that nobody else can change. Async-signal-safe.
 */
int dise_routes_target_ok(const char *path, const struct dise_file_id *want, int64_t want_ctime, uint32_t owner);

#endif
