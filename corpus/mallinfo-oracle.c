/* mallinfo-oracle: glibc's own accounting of a program we did not write.
 *
 * Preloaded (LD_PRELOAD=libmallinfo-oracle.so) into a real program, e.g. the
 * sqlite3 shell or perl, it installs a SIGUSR1 handler that calls mallinfo2()
 * and writes the ten fields to the file named by $CPROF_MALLINFO_OUT, as
 * "arena=N ordblks=N ...\n" (to NAME.tmp, then renamed).  The test harness
 * signals the program while it waits in read(2) on its stdin (the handler is
 * SA_RESTART, so the read resumes), waits for the file, and takes the core:
 * the core then holds exactly the heap mallinfo2 described.
 *
 * Why not gdb's `call mallinfo2()`: gdb 13 cannot make inferior calls on
 * kernels whose XSAVE area it cannot write back ("Couldn't write extended
 * state status: Bad address", seen with AMX), so this library stands in.
 *
 * It allocates nothing: the constructor only calls sigaction, and the handler
 * formats into a static buffer and uses open/write/rename.  mallinfo2 takes
 * the arena locks, which is safe here because the program is blocked in read,
 * never inside malloc, when it is signalled.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out_path[4096];
static char tmp_path[4100];

static void on_usr1(int sig)
{
	(void)sig;
	static char buf[1024];
	struct mallinfo2 mi = mallinfo2();
	int n = snprintf(buf, sizeof(buf),
			 "arena=%zu ordblks=%zu smblks=%zu hblks=%zu hblkhd=%zu usmblks=%zu "
			 "fsmblks=%zu uordblks=%zu fordblks=%zu keepcost=%zu\n",
			 mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd, mi.usmblks,
			 mi.fsmblks, mi.uordblks, mi.fordblks, mi.keepcost);
	int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) == n)
		rename(tmp_path, out_path);
	close(fd);
}

__attribute__((constructor))
static void install(void)
{
	const char *p = getenv("CPROF_MALLINFO_OUT");
	if (!p || strlen(p) >= sizeof(out_path))
		return;
	strcpy(out_path, p);
	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", p);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}
