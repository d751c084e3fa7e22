/*
 * cmd-info.c - `cprof-core info CORE [EXE]`: the process in a core.
 *
 * Prints the process, its threads with registers and backtraces, the mappings
 * with where their bytes come from, the modules with their build-id check, and
 * byte totals.  --json gives the same data in the shape of formats/info.json.md.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"
#include "cprof/pipeline.h"
#include "cprof/report.h"
#include "cprof/roots.h"

static const char usage[] =
	"cprof-core info CORE [EXE] [--json] [--sysroot DIR] [--debug-dir DIR]";

enum { MAX_FRAMES = 256, MAX_CALLS = 32 };

static const char *auxv_name(uint64_t type)
{
	switch (type) {
	case 3: return "AT_PHDR";
	case 4: return "AT_PHENT";
	case 5: return "AT_PHNUM";
	case 6: return "AT_PAGESZ";
	case 7: return "AT_BASE";
	case 8: return "AT_FLAGS";
	case 9: return "AT_ENTRY";
	case 11: return "AT_UID";
	case 12: return "AT_EUID";
	case 13: return "AT_GID";
	case 14: return "AT_EGID";
	case 15: return "AT_PLATFORM";
	case 16: return "AT_HWCAP";
	case 17: return "AT_CLKTCK";
	case 23: return "AT_SECURE";
	case 25: return "AT_RANDOM";
	case 26: return "AT_HWCAP2";
	case 31: return "AT_EXECFN";
	case 33: return "AT_SYSINFO_EHDR";
	case 51: return "AT_MINSIGSTKSZ";
	}
	return NULL;
}

static void perms(const struct cprof_segment *s, char buf[4])
{
	buf[0] = s->flags & CPROF_SEG_R ? 'r' : '-';
	buf[1] = s->flags & CPROF_SEG_W ? 'w' : '-';
	buf[2] = s->flags & CPROF_SEG_X ? 'x' : '-';
	buf[3] = '\0';
}

static const char *segment_source(const struct cprof_core_totals *t,
				  const struct cprof_segment *s)
{
	/* no access: no bytes to have or to miss (a reserve: MariaDB's 8 TiB
	   read "8.00 TiB missing") */
	if (!(s->flags & (CPROF_SEG_R | CPROF_SEG_W | CPROF_SEG_X)) && !t->in_core)
		return "none";
	int kinds = (t->in_core > 0) + (t->from_file > 0) + (t->missing > 0);
	if (kinds > 1)
		return "mixed";
	if (t->from_file)
		return "file";
	if (t->missing)
		return "missing";
	return "core";
}

static const char *segment_file(const struct cprof_core *core,
				const struct cprof_segment *s)
{
	return s->file >= 0 ? core->files[s->file].path : NULL;
}

/* Frames of one thread, symbolized; frames == NULL when unwinding failed. */
struct thread_bt {
	struct cprof_frame *frames;
	size_t n;
	char *error;
};

static void unwind_all(struct cprof_core *core, struct thread_bt *bts)
{
	for (size_t i = 0; i < core->n_threads; i++) {
		struct cprof_error *err = cprof_core_backtrace(
			core, core->threads[i].tid, MAX_FRAMES, &bts[i].frames,
			&bts[i].n);
		if (err) {
			bts[i].error = strdup(err->message);
			cprof_error_destroy(err);
		}
	}
}

/* ---- JSON ---- */

static void json_frames(struct json *j, struct cprof_core *core,
			const struct thread_bt *bt)
{
	json_key(j, "frames");
	json_array_begin(j);
	for (size_t k = 0; k < bt->n; k++) {
		const struct cprof_frame *f = &bt->frames[k];
		struct cprof_symbol calls[MAX_CALLS], sym;
		char text[512];
		size_t n = cprof_core_calls(core, f->pc, !f->is_activation, calls, MAX_CALLS);
		sym = n ? calls[n - 1] : (struct cprof_symbol){ 0 };
		cprof_symbol_format(&sym, f->pc, text, sizeof(text));
		json_object_begin(j);
		json_kv_uint(j, "index", k);
		json_kv_hex(j, "pc", f->pc);
		if (f->sp)
			json_kv_hex(j, "sp", f->sp);
		json_kv_string(j, "module", sym.module);
		json_kv_string(j, "function", sym.function);
		json_kv_uint(j, "offset", sym.offset);
		json_kv_string(j, "symbol", text);
		json_kv_string(j, "file", sym.file);
		if (sym.file)
			json_kv_int(j, "line", sym.line);
		else
			json_kv_string(j, "line", NULL);
		json_kv_string(j, "unwound_by", cprof_unwind_method_name(f->method));
		json_key(j, "inlined");
		json_array_begin(j);
		for (size_t i = 0; i + 1 < n; i++) {
			json_object_begin(j);
			json_kv_string(j, "function", calls[i].function);
			json_kv_string(j, "file", calls[i].file);
			if (calls[i].file)
				json_kv_int(j, "line", calls[i].line);
			else
				json_kv_string(j, "line", NULL);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	if (bt->error)
		json_kv_string(j, "unwind_error", bt->error);
}

static void json_vec(struct json *j, const struct cprof_thread *t)
{
	json_key(j, "vector_registers");
	if (!t->vec_source) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	json_kv_string(j, "source", t->vec_source);
	static const char *const names[] = { "xmm", "ymmh", "zmmh", "zmm_hi16" };
	int counts[] = { t->n_xmm, t->n_ymmh, t->n_zmmh_lanes, t->n_hi16_lanes };
	int lane = 0;
	for (int g = 0; g < 4; g++) {
		json_key(j, names[g]);
		json_array_begin(j);
		for (int i = 0; i < counts[g]; i++, lane++) {
			char hex[40] = "0x";
			/* little-endian lane: most significant byte last */
			uint8_t be[16];
			for (int b = 0; b < 16; b++)
				be[b] = t->vec[lane][15 - b];
			fmt_hex(hex + 2, be, 16);
			json_string(j, hex);
		}
		json_array_end(j);
	}
	json_object_end(j);
}

static void print_json(struct cprof_core *core, const struct thread_bt *bts,
		       const struct cprof_analysis *an,
		       const struct cprof_mapping_role *roles,
		       const struct cprof_warnings *w)
{
	struct json j;
	struct cprof_core_totals tot;
	cprof_core_totals(core, &tot);
	json_init(&j, stdout);
	json_object_begin(&j);
	json_kv_int(&j, "version", 1);

	json_key(&j, "core");
	json_object_begin(&j);
	json_kv_string(&j, "path", core->path);
	json_kv_uint(&j, "size", core->size);
	json_kv_string(&j, "arch", "x86_64");
	json_kv_uint(&j, "mapped_bytes", tot.mapped);
	json_kv_uint(&j, "present_bytes", tot.in_core);
	json_kv_uint(&j, "file_bytes", tot.from_file);
	json_kv_uint(&j, "missing_bytes", tot.missing);
	json_kv_bool(&j, "truncated", core->truncated);
	json_object_end(&j);

	const struct cprof_process *p = &core->process;
	json_key(&j, "process");
	json_object_begin(&j);
	if (p->has_psinfo) {
		json_kv_int(&j, "pid", p->pid);
		json_kv_int(&j, "ppid", p->ppid);
		json_kv_int(&j, "uid", p->uid);
		json_kv_int(&j, "gid", p->gid);
		json_kv_string(&j, "command", p->command);
		json_kv_string(&j, "args", p->args);
		json_kv_bool(&j, "args_truncated", p->args_truncated);
	} else if (core->n_threads) {
		json_kv_int(&j, "pid", core->threads[0].tid);
	}
	json_kv_string(&j, "dumper", cprof_dumper_name(p->dumper));
	json_kv_bool(&j, "killed", p->fatal_signal != 0);
	json_key(&j, "signal");
	if (p->has_siginfo || (core->n_threads && core->threads[0].cursig)) {
		int signo = p->has_siginfo ? p->signo : core->threads[0].cursig;
		char name[32];
		json_object_begin(&j);
		json_kv_int(&j, "number", signo);
		json_kv_string(&j, "name", fmt_signal(name, sizeof(name), signo));
		if (p->has_siginfo) {
			json_kv_int(&j, "code", p->sigcode);
			json_kv_hex(&j, "addr", p->sigaddr);
		}
		if (core->n_threads)
			json_kv_int(&j, "tid", core->threads[0].tid);
		json_object_end(&j);
	} else {
		json_null(&j);
	}
	json_object_end(&j);

	json_key(&j, "threads");
	json_array_begin(&j);
	for (size_t i = 0; i < core->n_threads; i++) {
		const struct cprof_thread *t = &core->threads[i];
		json_object_begin(&j);
		json_kv_int(&j, "tid", t->tid);
		json_kv_bool(&j, "signaled", i == 0 && t->cursig != 0);
		json_key(&j, "registers");
		json_object_begin(&j);
		for (int r = 0; r < CPROF_NREGS; r++)
			json_kv_hex(&j, cprof_reg_names[r], t->regs[r]);
		json_object_end(&j);
		json_vec(&j, t);
		json_frames(&j, core, &bts[i]);
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "mappings");
	json_array_begin(&j);
	for (size_t i = 0; i < core->n_segments; i++) {
		const struct cprof_segment *s = &core->segments[i];
		struct cprof_core_totals t;
		char pm[4];
		cprof_core_segment_totals(core, s, &t);
		perms(s, pm);
		json_object_begin(&j);
		json_kv_hex(&j, "start", s->start);
		json_kv_hex(&j, "end", s->end);
		json_kv_string(&j, "perms", pm);
		json_kv_string(&j, "file", segment_file(core, s));
		if (s->file >= 0)
			json_kv_uint(&j, "offset", s->file_offset);
		json_kv_string(&j, "source", segment_source(&t, s));
		json_kv_string(&j, "role", roles[i].role);
		json_kv_uint(&j, "heap_bytes", roles[i].heap_bytes);
		json_kv_uint(&j, "core_bytes", t.in_core);
		json_kv_uint(&j, "file_bytes", t.from_file);
		json_kv_uint(&j, "missing_bytes", t.missing);
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "modules");
	json_array_begin(&j);
	for (size_t i = 0; i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		json_object_begin(&j);
		json_kv_string(&j, "name", m->name);
		json_kv_string(&j, "path", m->path);
		json_kv_hex(&j, "start", m->start);
		json_kv_hex(&j, "end", m->end);
		json_kv_hex(&j, "load_bias", m->load_bias);
		json_kv_string(&j, "source", cprof_module_source_name(m->source));
		json_kv_string(&j, "build_id", m->build_id);
		json_kv_string(&j, "file_build_id", m->file_build_id);
		json_kv_string(&j, "status", cprof_module_status_name(m->status));
		json_kv_string(&j, "debug_file", m->debug_file);
		json_kv_string(&j, "debug_info", m->debug_file ? "separate" :
			       m->has_dwarf ? "embedded" : "none");
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "auxv");
	json_array_begin(&j);
	for (size_t i = 0; i < core->n_auxv; i++) {
		char num[32];
		const char *name = auxv_name(core->auxv[i].type);
		if (!name) {
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)core->auxv[i].type);
			name = num;
		}
		json_object_begin(&j);
		json_kv_string(&j, "type", name);
		json_kv_hex(&j, "value", core->auxv[i].value);
		json_object_end(&j);
	}
	json_array_end(&j);

	json_key(&j, "allocators");
	cprof_report_allocators_json(&j, &an->walk);

	json_key(&j, "warnings");
	json_array_begin(&j);
	for (size_t i = 0; i < w->count; i++)
		json_string(&j, w->messages[i]);
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

/* ---- text ---- */

/* The vector registers that hold anything, by the names the root slots use
 * ("xmm7[1]": word 1 of xmm7; cprof_vector_lane): one line per register,
 * its words that are not zero. */
static void print_vectors(const struct cprof_thread *t)
{
	int lanes = t->n_xmm + t->n_ymmh + t->n_zmmh_lanes + t->n_hi16_lanes;
	for (int l = 0; l < lanes;) {
		const char *kind, *k2;
		int reg, word, reg2, word2, end = l;
		cprof_vector_lane(t, l, &kind, &reg, &word);
		bool any = false;
		/* the lanes of one register are consecutive */
		do {
			uint64_t w[2];
			memcpy(w, t->vec[end], 16);
			any |= w[0] || w[1];
			if (++end < lanes)
				cprof_vector_lane(t, end, &k2, &reg2, &word2);
		} while (end < lanes && k2 == kind && reg2 == reg);
		if (any) {
			printf("      %s%d", kind, reg);
			for (int x = l; x < end; x++) {
				uint64_t w[2];
				memcpy(w, t->vec[x], 16);
				cprof_vector_lane(t, x, &k2, &reg2, &word2);
				for (int h = 0; h < 2; h++)
					if (w[h])
						printf("  [%d] 0x%016llx", word2 + h,
						       (unsigned long long)w[h]);
			}
			putchar('\n');
		}
		l = end;
	}
}

static void print_text(struct cprof_core *core, const struct thread_bt *bts,
		       const struct cprof_analysis *an,
		       const struct cprof_mapping_role *roles)
{
	char b1[FMT_BYTES_SIZE], b2[FMT_BYTES_SIZE], b3[FMT_BYTES_SIZE],
	     b4[FMT_BYTES_SIZE], b5[FMT_BYTES_SIZE];
	const struct cprof_process *p = &core->process;
	struct cprof_core_totals tot;
	cprof_core_totals(core, &tot);

	if (p->has_psinfo)
		printf("process  pid %d (%s), ppid %d, uid %d: %s%s\n", p->pid,
		       p->command, p->ppid, p->uid, p->args, cprof_report_args_cut(p));
	int signo = p->fatal_signal;
	char name[32];
	if (p->dumper == CPROF_DUMPER_GCORE)
		printf("dumper   gcore: a snapshot, the process was not killed%s%s%s\n",
		       p->has_siginfo ? " (stopped with " : "",
		       p->has_siginfo ? fmt_signal(name, sizeof(name), p->signo) : "",
		       p->has_siginfo ? ")" : "");
	if (signo) {
		printf("signal   %s (%d)", fmt_signal(name, sizeof(name), signo), signo);
		if (p->has_siginfo && p->sigaddr &&
		    (signo == 11 || signo == 7 || signo == 4 || signo == 8))
			printf(" at 0x%llx", (unsigned long long)p->sigaddr);
		if (core->n_threads)
			printf(", thread %d", core->threads[0].tid);
		putchar('\n');
	}
	printf("core     %s: %s file, %s mapped: %s in the core, %s from files, %s missing%s\n",
	       core->path, fmt_bytes(b1, core->size), fmt_bytes(b2, tot.mapped),
	       fmt_bytes(b3, tot.in_core), fmt_bytes(b4, tot.from_file),
	       fmt_bytes(b5, tot.missing), core->truncated ? " (truncated)" : "");

	printf("\nthreads (%zu)\n", core->n_threads);
	for (size_t i = 0; i < core->n_threads; i++) {
		const struct cprof_thread *t = &core->threads[i];
		printf("  thread %d%s  rip 0x%llx  rsp 0x%llx  rbp 0x%llx  fs_base 0x%llx\n",
		       t->tid, i == 0 && t->cursig ? " (signaled)" : "",
		       (unsigned long long)t->regs[CPROF_REG_RIP],
		       (unsigned long long)t->regs[CPROF_REG_RSP],
		       (unsigned long long)t->regs[CPROF_REG_RBP],
		       (unsigned long long)t->regs[CPROF_REG_FS_BASE]);
		print_vectors(t);
		for (size_t k = 0; k < bts[i].n; k++) {
			const struct cprof_frame *f = &bts[i].frames[k];
			struct cprof_symbol calls[MAX_CALLS], sym;
			char text[512];
			size_t n = cprof_core_calls(core, f->pc, !f->is_activation, calls, MAX_CALLS);
			/* the calls inlined here first, innermost first, as Go's
			   traceback lists them */
			for (size_t c = 0; c + 1 < n; c++) {
				char where[512];
				cprof_symbol_where(&calls[c], f->pc, where, sizeof(where));
				printf("         %18s  %s  [inlined]\n", "", where);
			}
			sym = n ? calls[n - 1] : (struct cprof_symbol){ 0 };
			cprof_symbol_format(&sym, f->pc, text, sizeof(text));
			printf("    #%-3zu 0x%016llx  %s", k,
			       (unsigned long long)f->pc, text);
			if (sym.file) {
				const char *base = strrchr(sym.file, '/');
				printf("  (%s:%d)", base ? base + 1 : sym.file, sym.line);
			}
			if (f->method == CPROF_UNWIND_FRAME_POINTER)
				printf("  [frame pointer]");
			putchar('\n');
		}
		if (bts[i].error)
			printf("    (%s)\n", bts[i].error);
	}

	printf("\nmappings (%zu)\n", core->n_segments);
	for (size_t i = 0; i < core->n_segments; i++) {
		const struct cprof_segment *s = &core->segments[i];
		struct cprof_core_totals t;
		char pm[4];
		cprof_core_segment_totals(core, s, &t);
		perms(s, pm);
		const char *file = segment_file(core, s);
		char role[80];
		printf("  0x%012llx-0x%012llx %s %10s  %-7s %-13s %s\n",
		       (unsigned long long)s->start, (unsigned long long)s->end,
		       pm, fmt_bytes(b1, s->end - s->start), segment_source(&t, s),
		       cprof_report_mapping_role_text(&roles[i], s, role, sizeof(role)),
		       file ? file : "");
	}

	printf("\nmodules (%zu)\n", core->n_modules);
	for (size_t i = 0; i < core->n_modules; i++) {
		const struct cprof_module *m = &core->modules[i];
		printf("  0x%012llx-0x%012llx %-10s %s\n",
		       (unsigned long long)m->start, (unsigned long long)m->end,
		       cprof_module_status_name(m->status), m->name);
		printf("      from %s, load bias 0x%llx\n", cprof_module_source_name(m->source),
		       (unsigned long long)m->load_bias);
		printf("      build-id %s", m->build_id ? m->build_id : "(none in core)");
		if (m->status == CPROF_MODULE_MISMATCH && m->file_build_id)
			printf(", file has %s", m->file_build_id);
		printf("\n      file %s\n      debug %s\n", m->path ? m->path : "(none)",
		       m->debug_file ? m->debug_file :
		       m->has_dwarf ? "(in the file)" : "(none)");
	}

	printf("\nallocators\n");
	cprof_report_allocators(stdout, &an->walk);

	printf("\ntotals   core file %s; mapped %s; in the core %s; from files %s; missing %s\n",
	       fmt_bytes(b1, core->size), fmt_bytes(b2, tot.mapped),
	       fmt_bytes(b3, tot.in_core), fmt_bytes(b4, tot.from_file),
	       fmt_bytes(b5, tot.missing));
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		CORE_LONG_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct core_args a = { 0 };
	bool json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (core_args_option(&a, opt, optarg))
			continue;
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_HELP:
			printf("usage: %s\n\n"
			       "The process in a core: command line, signal, threads with registers and\n"
			       "backtraces, mappings and where their bytes come from, modules with their\n"
			       "build-id check and debug info.\n\n"
			       "  --json               print formats/info.json.md's shape\n"
			       CORE_OPTIONS_HELP, usage);
			return EXIT_OK;
		default:
			return cmd_usage_error(usage, "bad option");
		}
	}
	if (!core_args_operands(&a, argc, argv, optind, usage))
		return EXIT_USAGE;

	struct cprof_core *core;
	if (!core_args_open_or_report(&a, &core))
		return EXIT_ERROR;
	struct cprof_error *err = NULL;
	struct thread_bt *bts = calloc(core->n_threads + 1, sizeof(*bts));
	if (!bts) {
		cprof_error_fwrite(&cprof_enomem, stderr);
		cprof_core_close(core);
		core_args_deinit(&a);
		return EXIT_ERROR;
	}
	unwind_all(core, bts);
	struct cprof_analysis an = { 0 };
	err = cprof_walk_heaps(core, NULL, &an);
	if (err) {
		/* Only running out of memory stops a walk; info goes on without it. */
		cprof_warn(&a.warnings, "%s: heap walk: %s", core->path, err->message);
		cprof_error_destroy(err);
	}
	struct cprof_mapping_role *roles = NULL;
	err = cprof_report_mapping_roles(core, &an.walk, &roles);
	if (err)
		cprof_error_fwrite(err, stderr);
	else if (json)
		print_json(core, bts, &an, roles, &a.warnings);
	else
		print_text(core, bts, &an, roles);
	free(roles);
	cprof_analysis_deinit(&an);
	for (size_t i = 0; i < core->n_threads; i++) {
		free(bts[i].frames);
		free(bts[i].error);
	}
	free(bts);
	cprof_core_close(core);
	core_args_deinit(&a);
	if (err) {
		cprof_error_destroy(err);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
