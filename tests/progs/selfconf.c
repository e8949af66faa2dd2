/* SPDX-License-Identifier: MIT */
/*
 * A program that finds its resources relative to itself, as installed
 * software does: prints argv, its own size, and the first line of
 * $(dirname /proc/self/exe)/../etc/app.conf; exits 2 when that is missing.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char self[PATH_MAX], conf[PATH_MAX + 32], line[256] = "";
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *fp;
	int i;

	if (n <= 0 || stat("/proc/self/exe", &st) != 0)
		return 3;
	self[n] = '\0';
	printf("size=%lld argc=%d", (long long)st.st_size, argc);
	for (i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	snprintf(conf, sizeof(conf), "%s/../etc/app.conf", dirname(self));
	fp = fopen(conf, "r");
	if (!fp) {
		printf(" conf=missing\n");
		return 2;
	}
	if (!fgets(line, sizeof(line), fp))
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\n")] = '\0';
	printf(" conf=%s\n", line);
	return 0;
}
