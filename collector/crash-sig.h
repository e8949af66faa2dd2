/* SPDX-License-Identifier: MIT */
/* Crash signatures: what a CRASH record's stack is, stably, and its frames as JSON. */
#ifndef DISE_CRASH_SIG_H
#define DISE_CRASH_SIG_H

#include "decode.h"

#include "unwind.h"

/*
 * Unwinds a CRASH record offline and returns its build-specific signature
 * (16 hex digits: stable across ASLR and across hosts that run the same
 * binaries) in sig, its symbolic signature ("s" and 15 hex digits: the
 * signal and the function names of the same frames, stable across
 * rebuilds; empty when a frame has no name) in sym, and its frames as a
 * JSON array (module, offset, function, fatal_path, ...) in *ret_frames (to
 * free; NULL when it could not be made). Both signatures start at the
 * faulting frame, past the frames that report a fatal error (crash-sig.c).
 * An unwinding that fails gives the signature of no frames, never an error.
 */
void dise_crash_signature(const struct dise_record *rec, char sig[24], char sym[24], char **ret_frames);

/* The index of the first frame of fr[0..n) past the fatal-reporting path (0 when all are). */
int dise_crash_first_frame(const struct dise_frame *fr, int n);

#endif
