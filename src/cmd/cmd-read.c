/*
 * cmd-read.c - `cprof-core read CORE [EXE] ADDR LEN`: the process's memory.
 *
 * Like gdb's x/xb, but it says where each byte comes from (the core, a mapped
 * file, or nowhere) and never shows missing bytes as zeros.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cprof/format.h"
#include "cprof/json.h"

static const char usage[] = "cprof-core read CORE [EXE] ADDR LEN [--json]";

enum { READ_MAX = 1 << 24 };

struct source_list {
	struct json *j;
	bool any_missing;
};

static void json_source(uint64_t start, uint64_t end, enum cprof_source src,
			void *arg)
{
	struct source_list *l = arg;
	json_object_begin(l->j);
	json_kv_hex(l->j, "start", start);
	json_kv_hex(l->j, "end", end);
	json_kv_string(l->j, "source", cprof_source_name(src));
	json_object_end(l->j);
	if (src == CPROF_SOURCE_MISSING)
		l->any_missing = true;
}

static void text_source(uint64_t start, uint64_t end, enum cprof_source src,
			void *arg)
{
	(void)arg;
	printf("# 0x%016llx-0x%016llx from %s\n", (unsigned long long)start,
	       (unsigned long long)end, cprof_source_name(src));
}

/* Prints a hex dump, 16 bytes a line, with "??" for missing bytes. */
static void hexdump(const struct cprof_core *core, uint64_t addr, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += 16) {
		uint64_t n = len - off < 16 ? len - off : 16;
		printf("0x%016llx ", (unsigned long long)(addr + off));
		char text[17];
		for (uint64_t i = 0; i < 16; i++) {
			uint8_t b;
			if (i >= n) {
				printf("   ");
				text[i] = ' ';
				continue;
			}
			struct cprof_error *err = cprof_core_read(core, addr + off + i, &b, 1);
			if (err) {
				cprof_error_destroy(err);
				printf(" ??");
				text[i] = '?';
			} else {
				printf(" %02x", b);
				text[i] = b >= 0x20 && b < 0x7f ? (char)b : '.';
			}
		}
		text[16] = '\0';
		printf("  %s\n", text);
	}
}

int cmd_read(int argc, char **argv)
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
			       "Dumps LEN bytes at ADDR of the dumped process and says where they come\n"
			       "from: the core, a mapped file (bytes the core left out), or missing.\n\n"
			       "  --json               {addr, len, bytes (hex, or null if any byte is missing), sources}\n"
			       CORE_OPTIONS_HELP, usage);
			return EXIT_OK;
		default:
			return cmd_usage_error(usage, "bad option");
		}
	}
	int n = argc - optind;
	if (n != 3 && n != 4)
		return cmd_usage_error(usage, "expected CORE [EXE] ADDR LEN");
	a.core = argv[optind];
	if (n == 4)
		a.exe = argv[optind + 1];
	uint64_t addr, len;
	if (!parse_u64(argv[argc - 2], &addr))
		return cmd_usage_error(usage, "bad address '%s'", argv[argc - 2]);
	if (!parse_u64(argv[argc - 1], &len) || len == 0 || len > READ_MAX)
		return cmd_usage_error(usage, "bad length '%s' (1 to %d)",
				       argv[argc - 1], READ_MAX);

	struct cprof_core *core;
	if (!core_args_open_or_report(&a, &core))
		return EXIT_ERROR;
	struct cprof_error *err = NULL;
	if (json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_hex(&j, "addr", addr);
		json_kv_uint(&j, "len", len);
		uint8_t *buf = malloc(len);
		char *hex = malloc(2 * len + 1);
		json_key(&j, "bytes");
		err = buf && hex ? cprof_core_read(core, addr, buf, len) : &cprof_enomem;
		if (err) {
			json_null(&j);
		} else {
			fmt_hex(hex, buf, len);
			json_string(&j, hex);
		}
		json_kv_string(&j, "error", err ? err->message : NULL);
		cprof_error_destroy(err);
		free(buf);
		free(hex);
		struct source_list l = { &j, false };
		json_key(&j, "sources");
		json_array_begin(&j);
		cprof_core_sources(core, addr, len, json_source, &l);
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		cprof_core_sources(core, addr, len, text_source, NULL);
		hexdump(core, addr, len);
	}
	cprof_core_close(core);
	core_args_deinit(&a);
	return EXIT_OK;
}
