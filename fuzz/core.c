/*
 * core.c - the core model's fuzz target: ELF header, program headers, notes
 * (threads, NT_FILE, auxv), the modules from the dynamic linker's list,
 * backtraces and symbols, from a core in memory.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_core(data, size, FUZZ_CORE, NULL);
	return 0;
}
