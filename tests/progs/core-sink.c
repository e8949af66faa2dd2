/* SPDX-License-Identifier: MIT */
/*
 * core-sink DIR ARGS...: a stand-in for a previous core_pattern pipe
 * handler: copies stdin to DIR/core and writes its other arguments, one a
 * line, to DIR/args (then DIR/done, so that a test knows it finished).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], buf[65536];
	ssize_t n;
	int fd, i;
	FILE *f;

	if (argc < 2)
		return 2;
	snprintf(path, sizeof(path), "%s/core", argv[1]);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return 1;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			return 1;
	close(fd);
	snprintf(path, sizeof(path), "%s/args", argv[1]);
	if (!(f = fopen(path, "w")))
		return 1;
	for (i = 2; i < argc; i++)
		fprintf(f, "%s\n", argv[i]);
	fclose(f);
	snprintf(path, sizeof(path), "%s/done", argv[1]);
	return (fd = open(path, O_WRONLY | O_CREAT, 0600)) < 0 ? 1 : close(fd);
}
