/*
 * sigframe.c - where a signal interrupted a thread that handles it on an
 * alternate signal stack (sigaltstack).
 *
 * A crash handler usually runs on its own stack (Varnish's panic handler, a
 * program's SIGSEGV reporter, every Go M): the thread's registers are then
 * the handler's, and its own stack - with the frames that were running, and
 * what they hold - is elsewhere.  The kernel left an x86-64 rt_sigframe on
 * the signal stack, above the handler's frames: the restorer's address (the
 * handler returns to it), then a ucontext whose mcontext holds r8..r15, rdi,
 * rsi, rbp, rbx, rdx, rax, rcx, rsp, rip.  Its rsp is where the thread's own
 * stack was left.
 *
 * The restorer is glibc's __restore_rt (a local symbol: found only with a
 * symbol table) or the Go runtime's, else recognized by its code (mov $15,
 * %rax; syscall).  A frame counts only when its rsp lies on another writable
 * mapping than the handler's stack and its rip in executable memory, so a
 * word that merely equals the restorer, or a signal raised inside the
 * handler (a crash re-raising it), is not taken.
 */
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"

enum {
	SEARCH = 32 << 10,         /* bytes above SP searched */
	UC = 8, MC = UC + 40,      /* the ucontext, its mcontext */
	RSP = MC + 8 * 15, RIP = MC + 8 * 16,
};

static size_t find_restorers(struct cprof_core *core, uint64_t *ret, size_t max)
{
	/* assembly functions' ELF symbols carry their ABI */
	static const char *const names[] = { "__restore_rt", "runtime.sigreturn__sigaction.abi0",
					     "runtime.sigreturn.abi0" };
	size_t n = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names) && n < max; i++)
		for (size_t k = 0; k < core->n_modules; k++)
			if (cprof_core_find_symbol(core, &core->modules[k], names[i], &ret[n], NULL)) {
				n++;
				break;
			}
	return n;
}

bool cprof_core_is_sigreturn(const struct cprof_core *core, uint64_t v)
{
	static const uint8_t glibc[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 },
			     go[7] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05 };
	const struct cprof_segment *s = cprof_core_segment(core, v);
	uint8_t b[9];
	if (!s || !(s->flags & CPROF_SEG_X) || !cprof_core_try_read(core, v, b, sizeof(b)))
		return false;
	return !memcmp(b, glibc, sizeof(glibc)) || !memcmp(b, go, sizeof(go));
}

static uint64_t word(const uint8_t *b, uint64_t off)
{
	uint64_t v;
	memcpy(&v, b + off, 8);      /* the core's bytes need not be aligned */
	return v;
}

static void interrupted(struct cprof_core *core, struct cprof_thread *t,
			const uint64_t *restorers, size_t n_restorers)
{
	uint64_t from = t->regs[CPROF_REG_RSP] & ~7ull;
	const struct cprof_segment *seg = cprof_core_segment(core, from);
	if (!seg)
		return;
	uint64_t to = seg->end - from > SEARCH ? from + SEARCH : seg->end;
	uint64_t end;
	/* one run of bytes the core holds (a stack is in one segment) */
	const uint8_t *b = cprof_core_run(core, from, to, &end);
	if (!b)
		return;
	for (uint64_t a = from; a + RIP + 8 <= end; a += 8) {
		uint64_t v = word(b, a - from), rsp = word(b, a - from + RSP),
			 rip = word(b, a - from + RIP);
		const struct cprof_segment *rs = cprof_core_segment(core, rsp);
		if (!rs || rs == seg || !(rs->flags & CPROF_SEG_W))
			continue;
		const struct cprof_segment *xs = cprof_core_segment(core, rip);
		if (!xs || !(xs->flags & CPROF_SEG_X))
			continue;
		bool ret = false;
		for (size_t i = 0; i < n_restorers; i++)
			ret |= v == restorers[i];
		if (ret || cprof_core_is_sigreturn(core, v)) {
			t->interrupted_sp = rsp;
			t->interrupted_pc = rip;
			return;
		}
	}
}

void core_find_interrupted(struct cprof_core *core)
{
	core->n_restorers = find_restorers(core, core->restorers, 3);
	for (size_t i = 0; i < core->n_threads; i++)
		interrupted(core, &core->threads[i], core->restorers, core->n_restorers);
}
