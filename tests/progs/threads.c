/* SPDX-License-Identifier: MIT */
/* threads: eight threads work and join; also prints how the crash signals look to the program. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void *work(void *arg)
{
	long n = (long)arg, s = 0, i;

	for (i = 0; i < 100000; i++)
		s += i % (n + 1);
	return (void *)s;
}

int main(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP };
	pthread_t t[8];
	long total = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, work, (void *)(long)i);
	for (i = 0; i < 8; i++) {
		void *r;

		pthread_join(t[i], &r);
		total += (long)r;
	}
	printf("total %ld\n", total);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;

		memset(&sa, 0xaa, sizeof(sa));
		sigaction(sigs[i], NULL, &sa);
		printf("signal %d: %s flags %#x\n", sigs[i], sa.sa_handler == SIG_DFL ? "default" : "handled",
		       (unsigned)sa.sa_flags);
	}
	{
		stack_t ss;

		sigaltstack(NULL, &ss);
		printf("main altstack %s\n", (ss.ss_flags & SS_DISABLE) ? "off" : "on");
	}
	return 0;
}
