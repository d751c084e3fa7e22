/*
 * malloc.c - which module serves malloc in the process, and the symbol and
 * string look-ups providers use to say whether they are there (see
 * include/cprof/heap.h).
 *
 * Where malloc resolves is what the dynamic linker decided: the executable's
 * GOT slot for malloc holds the address it bound (at start-up with BIND_NOW
 * or a GLOB_DAT relocation; at the first call with lazy binding).  When the
 * slot still points into the executable's own PLT (lazy binding, malloc not
 * yet called from the executable) or the executable imports no malloc, the
 * symbol search order decides: the executable, then LD_PRELOAD's libraries,
 * then the needed libraries breadth first - libc after the libraries that
 * need it.  The modules come sorted by address here, not in link-map order,
 * so a definition outside libc wins over libc's.
 */
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "cprof/heap.h"

bool cprof_module_defines(struct cprof_core *core, const struct cprof_module *m,
			  const char *name)
{
	uint64_t addr;
	return cprof_core_find_symbol(core, m, name, &addr, NULL);
}

static bool is_libc(const struct cprof_module *m)
{
	const char *b = strrchr(m->name, '/');
	b = b ? b + 1 : m->name;
	return !strncmp(b, "libc.so.", 8) || !strncmp(b, "libc-2.", 7);
}

/* The value of the executable's GOT slot for malloc, or 0. */
static uint64_t got_malloc(struct cprof_core *core, const struct cprof_module *exe)
{
	uint64_t bias;
	Elf *elf = cprof_core_module_elf(core, exe, &bias);
	Elf_Scn *scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh, symsh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		Elf_Scn *symscn = elf_getscn(elf, sh.sh_link);
		Elf_Data *rel = elf_getdata(scn, NULL);
		Elf_Data *syms = symscn ? elf_getdata(symscn, NULL) : NULL;
		if (!rel || !syms || !gelf_getshdr(symscn, &symsh))
			continue;
		size_t n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			uint64_t type = GELF_R_TYPE(0), v = 0;
			if (!gelf_getrela(rel, (int)i, &r))
				break;
			type = GELF_R_TYPE(r.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
				continue;
			const char *name = elf_strptr(elf, symsh.sh_link, sym.st_name);
			if (!name || strcmp(name, "malloc"))
				continue;
			if (!cprof_core_try_read(core, bias + r.r_offset, &v, 8))
				return 0;
			return v;
		}
	}
	return 0;
}

const struct cprof_module *cprof_heap_find_malloc(struct cprof_core *core,
						  const char **how)
{
	const struct cprof_module *exe = cprof_core_executable(core);
	if (exe) {
		const struct cprof_module *m = cprof_core_module(core, got_malloc(core, exe));
		if (m && m != exe) {
			*how = "the executable's GOT entry for malloc";
			return m;
		}
		if (cprof_module_defines(core, exe, "malloc")) {
			*how = "the executable defines malloc";
			return exe;
		}
	}
	const struct cprof_module *libc = NULL;
	for (size_t i = 0; i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		if (m == exe || !cprof_module_defines(core, m, "malloc"))
			continue;
		if (!is_libc(m)) {
			*how = "the first library defining malloc";
			return m;
		}
		libc = m;
	}
	*how = "libc defines malloc and no other library does";
	return libc;
}

size_t cprof_module_function_refs(struct cprof_core *core, const struct cprof_module *m,
				  const char *fn_name, enum cprof_insn_kind kind,
				  uint64_t *out, size_t max)
{
	uint64_t fn, size;
	if (!cprof_core_find_symbol(core, m, fn_name, &fn, &size))
		return 0;
	struct cprof_insn *ins;
	size_t n, k = 0;
	struct cprof_error *err = cprof_disasm_refs(core, fn, size ? size : 512, &ins, &n);
	if (err) {
		cprof_error_destroy(err);
		return 0;
	}
	for (size_t i = 0; i < n && k < max; i++)
		if (ins[i].kind == kind && ins[i].target)
			out[k++] = ins[i].target;
	free(ins);
	return k;
}

bool cprof_module_version_string(struct cprof_core *core, const struct cprof_module *m,
				 const char *prefix, char *buf, size_t size)
{
	uint64_t bias;
	Elf *elf = m ? cprof_core_module_elf(core, m, &bias) : NULL;
	size_t n, len = strlen(prefix);
	const char *raw = elf ? elf_rawfile(elf, &n) : NULL;
	for (const char *p = raw; p && size; p++) {
		p = memmem(p, n - (size_t)(p - raw), prefix, len);
		if (!p || (size_t)(p - raw) + len >= n)
			return false;
		const char *v = p + len;
		if (*v < '0' || *v > '9')
			continue;
		size_t k = 0;
		while (k + 1 < size && (size_t)(v + k - raw) < n &&
		       ((v[k] >= '0' && v[k] <= '9') || v[k] == '.'))
			k++;
		memcpy(buf, v, k);
		buf[k] = '\0';
		return true;
	}
	return false;
}
