/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the record decoder (record/decode.c): anything the ring
 * can hold goes in; the decoder must not read out of bounds, and what it
 * accepts must be safe to walk (strings, argv, modules).
 *
 * Built for libFuzzer with -DDISE_FUZZ=ON (clang). Otherwise a standalone
 * driver mutates the seed records for --iterations rounds (bit flips, byte
 * sets, truncations, length-field smashing, splices) under ASan/UBSan when
 * DISE_SANITIZE=ON, and decodes any files given as arguments.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "dise/ring.h"
#include "seeds.h"

static volatile size_t sink;
static unsigned long decoded; /* inputs the decoder accepted */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dise_record rec;
	struct dise_module_view mv;
	uint8_t *copy;
	uint32_t off = 0, i;
	const char *p;

	if (size > DISE_RECORD_MAX)
		return 0;
	copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
	memcpy(copy, data, size);
	if (dise_record_decode(copy, size, &rec, NULL) == 0) {
		decoded++;
		if (rec.exe)
			sink += strlen(rec.exe) + strlen(rec.execfn) + strlen(rec.cwd);
		if (rec.path)
			sink += strlen(rec.path);
		for (i = 0, p = rec.argv; p && i < rec.argv_count; i++, p += strlen(p) + 1)
			sink += strlen(p);
		while (dise_record_next_module(&rec, &off, &mv) == 0)
			sink += strlen(mv.path) + mv.build_id_len;
		for (i = 0; i < rec.stack_len; i++)
			sink += rec.stack[i];
	}
	free(copy);
	return 0;
}

#ifdef DISE_FUZZ_STANDALONE
#define FUZZ_SEED 88172645463325252ull
#include "fuzz-rng.h"

static size_t mutate(uint8_t *b, size_t n, size_t cap)
{
	unsigned rounds = 1 + next() % 4, r;

	for (r = 0; r < rounds; r++) {
		switch (next() % 6) {
		case 0: /* bit flip */
			if (n)
				b[next() % n] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* interesting byte */
			if (n) {
				static const uint8_t v[] = { 0, 1, 0x7f, 0x80, 0xff, 0xfe, 8, 16 };

				b[next() % n] = v[next() % sizeof(v)];
			}
			break;
		case 2: /* truncate, keeping the size field consistent half of the time */
			if (n)
				n = next() % n;
			if (n >= 4 && next() % 2)
				*(uint32_t *)b = (uint32_t)n;
			break;
		case 3: /* smash a 16-bit length field somewhere in the fixed part */
			if (n >= 2) {
				size_t at = next() % (n < 256 ? n - 1 : 255);
				uint16_t v = (uint16_t)(next() % 3 == 0 ? 0xffff : next() % 512);

				memcpy(b + at, &v, 2);
			}
			break;
		case 4: /* grow with junk */
			while (n < cap && next() % 8)
				b[n++] = (uint8_t)next();
			if (next() % 2)
				*(uint32_t *)b = (uint32_t)n;
			break;
		default: /* splice a piece of another seed */
		{
			static uint8_t other[DISE_RECORD_MAX];
			size_t m = seed_record(next(), other), at, len;

			if (!n || !m)
				break;
			at = next() % n;
			len = next() % m;
			if (at + len > cap)
				len = cap - at;
			memcpy(b + at, other + next() % m / 2, len > m / 2 ? m / 2 : len);
			break;
		}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t b[DISE_RECORD_MAX];
	unsigned long iterations = 100000, i, accepted = 0;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--iterations") && a + 1 < argc) {
			iterations = strtoul(argv[++a], NULL, 0);
			continue;
		}
		if (!strcmp(argv[a], "--write-seeds") && a + 1 < argc) {
			/* a starting corpus for libFuzzer: one file per record type */
			for (unsigned k = 0; k < SEED_COUNT; k++) {
				char path[4096];
				size_t n = seed_record(k, b);
				FILE *f;

				snprintf(path, sizeof(path), "%s/seed-%u", argv[a + 1], k);
				f = fopen(path, "wb");
				if (!f || fwrite(b, 1, n, f) != n) {
					perror(path);
					return 1;
				}
				fclose(f);
			}
			return 0;
		}
		FILE *f = fopen(argv[a], "rb");
		size_t n;

		if (!f) {
			perror(argv[a]);
			return 1;
		}
		n = fread(b, 1, sizeof(b), f);
		fclose(f);
		LLVMFuzzerTestOneInput(b, n);
	}
	for (i = 0; i < iterations; i++) {
		size_t n = seed_record((unsigned)i, b);

		if (i % 4 != 0) { /* a quarter of the runs check the seed itself still decodes */
			n = mutate(b, n, sizeof(b));
		} else {
			struct dise_record rec;
			const char *why = NULL;

			if (dise_record_decode(b, n, &rec, &why) != 0) {
				fprintf(stderr, "fuzz-decode: seed %lu (%zu bytes) refused: %s\n", i, n, why ? why : "?");
				return 1;
			}
		}
		LLVMFuzzerTestOneInput(b, n);
	}
	accepted = decoded;
	/* the mutations must reach both sides of the decoder, or the fuzzing tested little */
	if (accepted <= iterations / 4 || accepted == iterations) {
		fprintf(stderr, "fuzz-decode: %lu of %lu inputs accepted: the mutations miss one side\n", accepted, iterations);
		return 1;
	}
	printf("fuzz-decode: %lu inputs decoded without fault, %lu accepted\n", iterations, accepted);
	return 0;
}
#endif
