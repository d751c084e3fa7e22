/*
 * disasm.c - the one file that calls capstone: finds the memory references
 * of a function, for locating data that has no symbol (glibc's main_arena in a
 * libc without debug info: mallinfo2 takes its address with `lea X(%rip)`).
 */
#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"

enum { DISASM_MAX = 1 << 16 };

static enum cprof_insn_kind kind_of(const cs_insn *insn, bool mem_is_source)
{
	switch (insn->id) {
	case X86_INS_LEA:
		return CPROF_INSN_LEA;
	case X86_INS_MOV:
		return mem_is_source ? CPROF_INSN_LOAD : CPROF_INSN_STORE;
	case X86_INS_CMP:
		return CPROF_INSN_CMP;
	}
	return CPROF_INSN_OTHER;
}

struct cprof_error *cprof_disasm_refs(struct cprof_core *core, uint64_t addr,
				      size_t len, struct cprof_insn **ret,
				      size_t *n_ret)
{
	*ret = NULL;
	*n_ret = 0;
	if (len > DISASM_MAX)
		len = DISASM_MAX;
	uint8_t *code = malloc(len ? len : 1);
	if (!code)
		return &cprof_enomem;
	struct cprof_error *err = cprof_core_read(core, addr, code, len);
	if (err) {
		free(code);
		return err;
	}
	csh cs;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		free(code);
		return cprof_error_create(CPROF_ERROR_LIB, "capstone: cs_open failed");
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *insn;
	size_t count = cs_disasm(cs, code, len, addr, 0, &insn);
	struct cprof_insn *out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		cs_free(insn, count);
		cs_close(&cs);
		free(code);
		return &cprof_enomem;
	}
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		const cs_x86 *x = &insn[i].detail->x86;
		struct cprof_insn r = { .addr = insn[i].address };
		bool interesting = false;
		int other_reg = 0;
		for (int k = 0; k < x->op_count; k++)
			if (x->operands[k].type == X86_OP_REG)
				other_reg = x->operands[k].reg;
		for (int k = 0; k < x->op_count; k++) {
			const cs_x86_op *op = &x->operands[k];
			if (op->type != X86_OP_MEM)
				continue;
			if (op->mem.base == X86_REG_RIP) {
				r.target = insn[i].address + insn[i].size + op->mem.disp;
				interesting = true;
			} else if (op->mem.segment == X86_REG_FS &&
				   op->mem.base != X86_REG_INVALID) {
				r.fs_base = op->mem.base;
				interesting = true;
			} else if (op->mem.segment == X86_REG_FS &&
				   op->mem.index == X86_REG_INVALID) {
				r.fs_abs = true;
				r.fs_disp = op->mem.disp;
				interesting = true;
			}
			r.kind = kind_of(&insn[i], k > 0);
		}
		if (!interesting)
			continue;
		r.reg = other_reg;
		out[n++] = r;
	}
	cs_free(insn, count);
	cs_close(&cs);
	free(code);
	*ret = out;
	*n_ret = n;
	return NULL;
}
