/*
 * pprof.c - the heap profile reader's fuzz target: profile.proto (gzipped
 * or not), gperftools' and jemalloc's text heap profiles, from memory.
 */
#include "cprof/pprof.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cprof_pprof_profile p;
	struct cprof_error *err = cprof_pprof_read_buffer("fuzz.pb.gz", data, size, &p);
	if (!err)
		cprof_pprof_profile_deinit(&p);
	cprof_error_destroy(err);
	return 0;
}
