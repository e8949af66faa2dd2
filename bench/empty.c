/* SPDX-License-Identifier: MIT */
/* An empty library: the floor cost of preloading anything at all. */
int dise_bench_empty(void);
int dise_bench_empty(void)
{
	return 0;
}
