/* bigheap: a large pointer graph, for benchmarks (bench/).
 *
 * Usage: bigheap MANIFEST_PATH COUNT
 *
 * Allocates COUNT objects of 24 to 1512 bytes (sizes cycle deterministically);
 * each holds up to three pointers to objects allocated before it (a random
 * earlier object, its predecessor, and every 16th object one pointer into
 * the middle of another).  Objects are kept in groups of 1024 hanging off a
 * global array; every 8th group is dropped (leaked), with its internal
 * pointers intact, so the leak analysis has real work.  Then the manifest
 * (corpus/README.md protocol: pid, counts) and pause().
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { GROUP = 1024 };

static void **groups;          /* one pointer per kept group: its first object */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bigheap MANIFEST_PATH COUNT\n");
		return 3;
	}
	long count = strtol(argv[2], NULL, 10);
	if (count < GROUP) {
		fprintf(stderr, "bigheap: COUNT must be >= %d\n", GROUP);
		return 3;
	}
	static const unsigned short sizes[] = { 24, 40, 56, 88, 120, 200, 264, 504, 1000, 1512 };
	long n_groups = (count + GROUP - 1) / GROUP;
	groups = calloc(n_groups, sizeof(*groups));
	void **group = malloc(GROUP * sizeof(*group));
	if (!groups || !group)
		return 3;
	long kept = 0, leaked = 0, made = 0;
	for (long gi = 0; gi < n_groups; gi++) {
		long in_group = count - made < GROUP ? count - made : GROUP;
		for (long i = 0; i < in_group; i++, made++) {
			size_t sz = sizes[made % (sizeof(sizes) / sizeof(sizes[0]))];
			uintptr_t *o = malloc(sz);
			if (!o)
				return 3;
			memset(o, 0, sz);
			o[0] = i ? (uintptr_t)group[i - 1] : 0;
			o[1] = i ? (uintptr_t)group[next_rand() % i] : 0;
			if (i && (made % 16) == 0)
				o[2] = (uintptr_t)group[next_rand() % i] + 8;
			group[i] = o;
		}
		if (gi % 8 == 7) {
			leaked += in_group;  /* dropped: its last object is the root */
		} else {
			groups[gi] = group[in_group - 1];
			kept += in_group;
		}
	}
	free(group);
	static char buf[512];
	struct mallinfo2 mi = mallinfo2();
	int len = snprintf(buf, sizeof(buf),
			   "{\"program\": \"bigheap\", \"pid\": %d, \"count\": %ld, "
			   "\"kept\": %ld, \"leaked\": %ld, \"uordblks\": %zu, "
			   "\"threads\": [{\"tid\": %d, \"main\": true, \"functions\": [\"main\"]}]}\n",
			   (int)getpid(), count, kept, leaked, mi.uordblks, (int)getpid());
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != len || close(fd) < 0 ||
	    rename(tmp, argv[1]) < 0)
		return 3;
	for (;;)
		pause();
}
