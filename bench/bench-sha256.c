/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 throughput: what hashing a version costs. Hashes a 256 MiB
 * buffer in 64 KiB chunks (as dise_hash_file reads a file) through
 * collector/sha256.h, five times, and prints the best and the median MiB/s;
 * then dise_hash_file() over a 256 MiB file in $TMPDIR (page cache warm),
 * which adds the reads. Usage: bench-sha256 [MiB]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "resolve.h"
#include "sha256.h"

#define CHUNK 65536
#define ROUNDS 5

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 256, size = mib << 20, off;
	uint8_t *buf = malloc(size), d[32];
	double mbs[ROUNDS];
	char hex[65], path[4096];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int i, fd;

	if (!buf || !mib)
		return 1;
	for (off = 0; off < size; off++)
		buf[off] = (uint8_t)(off * 2654435761u >> 13);
	for (i = 0; i < ROUNDS; i++) {
		struct dise_sha256 s;
		uint64_t t0 = now_ns();

		dise_sha256_init(&s);
		for (off = 0; off < size; off += CHUNK)
			dise_sha256_update(&s, buf + off, size - off < CHUNK ? size - off : CHUNK);
		dise_sha256_final(&s, d);
		mbs[i] = (double)mib / ((double)(now_ns() - t0) / 1e9);
	}
	dise_sha256_hex(d, hex);
	for (i = 1; i < ROUNDS; i++) /* insertion sort: five values */
		for (int k = i; k > 0 && mbs[k] < mbs[k - 1]; k--) {
			double t = mbs[k];

			mbs[k] = mbs[k - 1];
			mbs[k - 1] = t;
		}
	printf("sha256 in memory: %zu MiB x %d: best %.0f MiB/s, median %.0f MiB/s (%.16s...)\n", mib, ROUNDS,
	       mbs[ROUNDS - 1], mbs[ROUNDS / 2], hex);

	snprintf(path, sizeof(path), "%s/dise-bench-sha256.%d", tmp, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size) {
		perror(path);
		return 1;
	}
	close(fd);
	for (i = 0; i < ROUNDS; i++) {
		uint64_t t0 = now_ns();

		if (dise_hash_file(path, NULL, NULL, hex) < 0)
			return 1;
		mbs[i] = (double)mib / ((double)(now_ns() - t0) / 1e9);
	}
	unlink(path);
	for (i = 1; i < ROUNDS; i++)
		for (int k = i; k > 0 && mbs[k] < mbs[k - 1]; k--) {
			double t = mbs[k];

			mbs[k] = mbs[k - 1];
			mbs[k - 1] = t;
		}
	printf("dise_hash_file:   %zu MiB x %d: best %.0f MiB/s, median %.0f MiB/s\n", mib, ROUNDS, mbs[ROUNDS - 1],
	       mbs[ROUNDS / 2]);
	free(buf);
	return 0;
}
