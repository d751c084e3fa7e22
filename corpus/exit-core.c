/* exit-core: a core of a program we did not write, at the very end of exit().
 *
 * Preloaded (LD_PRELOAD=libexit-core.so) into a real program with
 * CPROF_EXIT_CORE=1 in its environment, it makes the program abort - and the
 * kernel dump its core - after everything exit() runs except stdio's final
 * flush: the program's atexit handlers, C++ static destructors and the dynamic
 * linker's _dl_fini (the module destructors).  That is the state valgrind's
 * leak check at exit sees when libc's and libstdc++'s freeres hooks are off
 * (--run-libc-freeres=no --run-cxx-freeres=no), so the two can be compared
 * block for block (tests/t0550-leaks-real-valgrind.py).
 *
 * Why the handler runs last: exit() runs the handlers registered with
 * atexit/__cxa_atexit in the reverse order of their registration.  A preloaded
 * library's constructor runs before __libc_start_main registers _dl_fini and
 * before the executable's own constructors, so a handler registered here (with
 * a NULL dso handle: no module's unloading removes it) is the first registered
 * and runs after all of them.
 *
 * The variable is removed from the environment at once (unsetenv moves the
 * later entries down; it allocates nothing), so that the program sees the same
 * environment as under valgrind, and its children (git's helpers, shells) do
 * not dump cores of their own.  Nothing here allocates.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void dump_now(void *arg)
{
	(void)arg;
	/* The default action, whatever the program installed: gdb, for one,
	 * catches SIGABRT and reports an internal error (allocating) first. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGABRT, &sa, NULL);
	abort();
}

__attribute__((constructor)) static void arm(void)
{
	const char *v = getenv("CPROF_EXIT_CORE");
	if (!v || strcmp(v, "1") != 0)
		return;
	unsetenv("CPROF_EXIT_CORE");
	__cxa_atexit(dump_now, NULL, NULL);
}
