/* SPDX-License-Identifier: MIT */
/*
 * Records of dise-coredump (coredump/): a crash the kernel dumped is
 * recorded once. The shim re-raises a crash with the default action, so the
 * kernel dumps the core of a process the shim already recorded; `dise
 * attach` too lets the signal kill its tracee. The handler's START (flag
 * CORE) is a stand-in, as `dise run`'s is: its run_start_ns is the
 * process's start as /proc tells it (clock ticks, rounded up), and any run
 * of that pid that began from a little before it on and was not ended by
 * an exec is the same process recorded from inside (or by a tracer). Then
 * the START is dropped, and so is its CRASH (flag CORE), which finds no run
 * under its key.
 */
#define _GNU_SOURCE
#include "store-internal.h"

/* Two clock ticks at 100 Hz: the rounding of /proc's start time, and the move from CLOCK_BOOTTIME. */
#define CORE_START_SLACK_NS 20000000ll

int dise__store_core_seen(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	static const char other[] = "SELECT id FROM runs WHERE epoch = ?1 AND pid = ?2 AND start_ns >= ?3 AND start_ns != ?4 "
				    "AND (outcome IS NULL OR outcome != 'exec') LIMIT 1";
	static const char own[] = "SELECT id FROM runs WHERE epoch = ?1 AND pid = ?2 AND start_ns = ?3";
	int64_t start = (int64_t)rec->hdr.run_start_ns, id = 0;
	int r;

	if (rec->type == DISE_REC_START) {
		r = dise__int(st, other, &id, "iiii", (int64_t)epoch, (int64_t)rec->hdr.pid,
			      start > CORE_START_SLACK_NS ? start - CORE_START_SLACK_NS : 0, start);
		return r < 0 ? r : id != 0;
	}
	r = dise__int(st, own, &id, "iii", (int64_t)epoch, (int64_t)rec->hdr.pid, start);
	return r < 0 ? r : id == 0;
}
