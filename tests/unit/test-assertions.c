/*
 * test-assertions.c - the build runs with assertions on: the stated
 * invariants (objects sorted and disjoint at graph build, CSR rows monotonic,
 * ids below n, idom[root] == root, fixed arrays not overrun) are checked in
 * the plain and the ASan+UBSan builds alike (meson's b_ndebug=false).
 * Exits 1 when NDEBUG is defined, 0 when a failing assert() really aborts.
 */
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
#ifdef NDEBUG
	fprintf(stderr, "assertions are off (NDEBUG): configure with -Db_ndebug=false\n");
	return 1;
#else
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* the child trips one and must die of SIGABRT */
		signal(SIGABRT, SIG_DFL);
		volatile int zero = 0;
		assert(zero == 1);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		fprintf(stderr, "a failing assert() did not abort (status %d)\n", status);
		return 1;
	}
	printf("assertions are on\n");
	return 0;
#endif
}
