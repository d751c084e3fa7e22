/*
 * write.c - building a pprof profile and writing it gzipped (include/cprof/pprof.h).
 *
 * The builder keeps its own tables (strings, functions, locations, samples)
 * and deduplicates as frames arrive, each through one open-addressing index
 * of 32-bit entries over a 64-bit hash of the key; the protobuf-c structs are
 * made only when the file is written, from those tables, and packed in one
 * buffer that zlib compresses with a gzip header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cprof/hash.h"
#include "cprof/pprof.h"
#include "profile.pb-c.h"

enum { EMPTY = UINT32_MAX };

/* An index: slot -> entry number, probed by a 64-bit hash. */
struct index {
	uint32_t *slot;
	uint64_t *hash;            /* per slot */
	size_t cap;                /* a power of two, or 0 */
};

struct line {
	uint64_t function;         /* id */
	int64_t line;
};

struct location {
	uint64_t mapping, address;
	size_t first_line, n_lines;        /* into lines */
};

struct function {
	int64_t name, file;        /* string indexes */
	bool named;                /* a name that is no symbol (a type, a root): no
				      system_name, so that pprof leaves it as it is
				      (it cuts "<...>" from names it takes for C++) */
};

struct sample {
	size_t first_loc, n_locs;          /* into sample_locs */
	size_t first_value;                /* into values */
};

struct cprof_pprof {
	size_t n_types;
	int64_t *type_names, *unit_names;
	int64_t default_type;
	char **strings;
	size_t n_strings, cap_strings;
	struct index string_index;
	struct function *functions;
	size_t n_functions, cap_functions;
	struct index function_index;
	struct location *locations;
	size_t n_locations, cap_locations;
	struct index location_index;
	struct line *lines;
	size_t n_lines, cap_lines;
	Perftools__Profiles__Mapping *mappings;
	size_t n_mappings, cap_mappings;
	struct sample *samples;
	size_t n_samples, cap_samples;
	uint64_t *sample_locs;
	size_t n_sample_locs, cap_sample_locs;
	int64_t *values;
	size_t n_values, cap_values;
	int64_t *comments;
	size_t n_comments, cap_comments;
};

/* Makes room for one more element of size bytes in *a (n used, *cap allocated). */
static bool grow(void *a, size_t n, size_t *cap, size_t size, size_t more)
{
	if (n + more <= *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	while (c < n + more)
		c *= 2;
	void *b = realloc(*(void **)a, c * size);
	if (!b)
		return false;
	*(void **)a = b;
	*cap = c;
	return true;
}

/* The slot of hash h for which same(entry, arg) holds, or the empty one
 * where it would go; the index is grown first when half full (n entries). */
static uint32_t *index_find(struct index *ix, size_t n, uint64_t h,
			    bool (*same)(const struct cprof_pprof *, uint32_t, const void *),
			    const struct cprof_pprof *p, const void *arg)
{
	if (2 * (n + 1) > ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 256;
		uint32_t *slot = malloc(cap * sizeof(*slot));
		uint64_t *hash = malloc(cap * sizeof(*hash));
		if (!slot || !hash) {
			free(slot);
			free(hash);
			return NULL;
		}
		memset(slot, 0xff, cap * sizeof(*slot));
		for (size_t i = 0; i < ix->cap; i++) {
			if (ix->slot[i] == EMPTY)
				continue;
			size_t k = ix->hash[i] & (cap - 1);
			while (slot[k] != EMPTY)
				k = (k + 1) & (cap - 1);
			slot[k] = ix->slot[i];
			hash[k] = ix->hash[i];
		}
		free(ix->slot);
		free(ix->hash);
		ix->slot = slot;
		ix->hash = hash;
		ix->cap = cap;
	}
	size_t k = h & (ix->cap - 1);
	while (ix->slot[k] != EMPTY && !(ix->hash[k] == h && same(p, ix->slot[k], arg)))
		k = (k + 1) & (ix->cap - 1);
	ix->hash[k] = h;
	return &ix->slot[k];
}

static void index_deinit(struct index *ix)
{
	free(ix->slot);
	free(ix->hash);
}

/* ---- strings ---- */

static bool same_string(const struct cprof_pprof *p, uint32_t i, const void *s)
{
	return !strcmp(p->strings[i], s);
}

/* The index of s in the string table (added when new); -1 out of memory. */
static int64_t intern(struct cprof_pprof *p, const char *s)
{
	if (!s)
		s = "";
	uint32_t *slot = index_find(&p->string_index, p->n_strings, cprof_hash_str(s),
				    same_string, p, s);
	if (!slot)
		return -1;
	if (*slot != EMPTY)
		return *slot;
	char *copy = strdup(s);
	if (!copy || !grow(&p->strings, p->n_strings, &p->cap_strings, sizeof(char *), 1)) {
		free(copy);
		return -1;
	}
	p->strings[p->n_strings] = copy;
	*slot = (uint32_t)p->n_strings;
	return (int64_t)p->n_strings++;
}

struct cprof_error *cprof_pprof_create(const char *const *types, const char *const *units,
				       size_t n_types, const char *default_type,
				       struct cprof_pprof **ret)
{
	struct cprof_pprof *p = calloc(1, sizeof(*p));
	*ret = NULL;
	if (!p)
		return &cprof_enomem;
	p->n_types = n_types;
	p->type_names = calloc(n_types + 1, sizeof(int64_t));
	p->unit_names = calloc(n_types + 1, sizeof(int64_t));
	bool ok = p->type_names && p->unit_names && intern(p, "") == 0;
	for (size_t i = 0; ok && i < n_types; i++) {
		p->type_names[i] = intern(p, types[i]);
		p->unit_names[i] = intern(p, units[i]);
		ok = p->type_names[i] >= 0 && p->unit_names[i] >= 0;
	}
	p->default_type = ok && default_type ? intern(p, default_type) : 0;
	if (!ok || p->default_type < 0) {
		cprof_pprof_destroy(p);
		return &cprof_enomem;
	}
	*ret = p;
	return NULL;
}

void cprof_pprof_destroy(struct cprof_pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_strings; i++)
		free(p->strings[i]);
	free(p->strings);
	index_deinit(&p->string_index);
	index_deinit(&p->function_index);
	index_deinit(&p->location_index);
	free(p->functions);
	free(p->locations);
	free(p->lines);
	free(p->mappings);
	free(p->samples);
	free(p->sample_locs);
	free(p->values);
	free(p->comments);
	free(p->type_names);
	free(p->unit_names);
	free(p);
}

struct cprof_error *cprof_pprof_mapping(struct cprof_pprof *p, uint64_t start, uint64_t limit,
					uint64_t offset, const char *file, const char *build_id,
					uint64_t *ret)
{
	int64_t f = intern(p, file), b = intern(p, build_id);
	if (f < 0 || b < 0 || !grow(&p->mappings, p->n_mappings, &p->cap_mappings,
				    sizeof(*p->mappings), 1))
		return &cprof_enomem;
	Perftools__Profiles__Mapping *m = &p->mappings[p->n_mappings];
	perftools__profiles__mapping__init(m);
	m->id = p->n_mappings + 1;
	m->memory_start = start;
	m->memory_limit = limit;
	m->file_offset = offset;
	m->filename = f;
	m->build_id = b;
	m->has_functions = m->has_filenames = m->has_line_numbers = true;
	*ret = m->id;
	p->n_mappings++;
	return NULL;
}

/* ---- functions and locations ---- */

static bool same_function(const struct cprof_pprof *p, uint32_t i, const void *arg)
{
	const struct function *f = arg;
	return p->functions[i].name == f->name && p->functions[i].file == f->file &&
	       p->functions[i].named == f->named;
}

/* The id of function (name, file); 0 out of memory. */
static uint64_t function_id(struct cprof_pprof *p, const char *name, const char *file,
			    bool named)
{
	struct function f = { intern(p, name ? name : "?"), intern(p, file), named };
	if (f.name < 0 || f.file < 0)
		return 0;
	uint64_t h = (uint64_t)f.name * 0x9E3779B97F4A7C15ull ^ (uint64_t)f.file;
	uint32_t *slot = index_find(&p->function_index, p->n_functions, h, same_function, p, &f);
	if (!slot)
		return 0;
	if (*slot == EMPTY) {
		if (!grow(&p->functions, p->n_functions, &p->cap_functions, sizeof(f), 1))
			return 0;
		p->functions[p->n_functions] = f;
		*slot = (uint32_t)p->n_functions++;
	}
	return *slot + 1;
}

/* A location's key: its mapping and address, and for a frame with no
 * address its first line's function. */
struct location_key {
	uint64_t mapping, address, function;
};

static bool same_location(const struct cprof_pprof *p, uint32_t i, const void *arg)
{
	const struct location_key *k = arg;
	const struct location *l = &p->locations[i];
	return l->mapping == k->mapping && l->address == k->address &&
	       (k->address || (l->n_lines && p->lines[l->first_line].function == k->function));
}

struct cprof_error *cprof_pprof_location(struct cprof_pprof *p, uint64_t mapping,
					 uint64_t address, const struct cprof_pprof_line *lines,
					 size_t n_lines, uint64_t *ret)
{
	if (!grow(&p->lines, p->n_lines, &p->cap_lines, sizeof(*p->lines), n_lines))
		return &cprof_enomem;
	size_t first = p->n_lines;
	for (size_t i = 0; i < n_lines; i++) {
		uint64_t f = function_id(p, lines[i].function, lines[i].file, !mapping && !address);
		if (!f)
			return &cprof_enomem;
		p->lines[first + i] = (struct line){ f, lines[i].line };
	}
	struct location_key k = { mapping, address, n_lines ? p->lines[first].function : 0 };
	uint64_t h = (mapping * 0x9E3779B97F4A7C15ull) ^ (address * 0xC2B2AE3D27D4EB4Full) ^ k.function;
	uint32_t *slot = index_find(&p->location_index, p->n_locations, h, same_location, p, &k);
	if (!slot)
		return &cprof_enomem;
	if (*slot != EMPTY) {          /* known: the lines just added are dropped */
		*ret = *slot + 1;
		return NULL;
	}
	if (!grow(&p->locations, p->n_locations, &p->cap_locations, sizeof(*p->locations), 1))
		return &cprof_enomem;
	p->locations[p->n_locations] = (struct location){ mapping, address, first, n_lines };
	p->n_lines += n_lines;
	*slot = (uint32_t)p->n_locations++;
	*ret = *slot + 1;
	return NULL;
}

struct cprof_error *cprof_pprof_sample(struct cprof_pprof *p, const uint64_t *locations,
				       size_t n, const int64_t *values)
{
	if (!grow(&p->samples, p->n_samples, &p->cap_samples, sizeof(*p->samples), 1) ||
	    !grow(&p->sample_locs, p->n_sample_locs, &p->cap_sample_locs, sizeof(uint64_t), n) ||
	    !grow(&p->values, p->n_values, &p->cap_values, sizeof(int64_t), p->n_types))
		return &cprof_enomem;
	p->samples[p->n_samples++] = (struct sample){ p->n_sample_locs, n, p->n_values };
	memcpy(p->sample_locs + p->n_sample_locs, locations, n * sizeof(*locations));
	p->n_sample_locs += n;
	memcpy(p->values + p->n_values, values, p->n_types * sizeof(*values));
	p->n_values += p->n_types;
	return NULL;
}

struct cprof_error *cprof_pprof_comment(struct cprof_pprof *p, const char *text)
{
	int64_t s = intern(p, text);
	if (s < 0 || !grow(&p->comments, p->n_comments, &p->cap_comments, sizeof(int64_t), 1))
		return &cprof_enomem;
	p->comments[p->n_comments++] = s;
	return NULL;
}

/* ---- packing ---- */

/* The protobuf-c message of the whole profile, pointing into p's tables and
 * into arrays allocated in one block (*block, freed by the caller). */
static bool to_message(const struct cprof_pprof *p, Perftools__Profiles__Profile *m,
		       void **block)
{
	size_t n_vt = p->n_types + 1;
	size_t bytes = n_vt * sizeof(Perftools__Profiles__ValueType) +
		p->n_types * sizeof(void *) +
		p->n_samples * (sizeof(Perftools__Profiles__Sample) + sizeof(void *)) +
		p->n_mappings * sizeof(void *) +
		p->n_locations * (sizeof(Perftools__Profiles__Location) + sizeof(void *)) +
		p->n_lines * (sizeof(Perftools__Profiles__Line) + sizeof(void *)) +
		p->n_functions * (sizeof(Perftools__Profiles__Function) + sizeof(void *));
	char *b = calloc(1, bytes + 64);
	if (!b)
		return false;
	*block = b;
	perftools__profiles__profile__init(m);
	Perftools__Profiles__ValueType *vt = (void *)b;
	b += n_vt * sizeof(*vt);
	m->sample_type = (void *)b;
	b += p->n_types * sizeof(void *);
	m->n_sample_type = p->n_types;
	for (size_t i = 0; i < n_vt; i++)
		perftools__profiles__value_type__init(&vt[i]);
	for (size_t i = 0; i < p->n_types; i++) {
		vt[i].type = p->type_names[i];
		vt[i].unit = p->unit_names[i];
		m->sample_type[i] = &vt[i];
	}
	m->period_type = &vt[p->n_types];
	m->period = 1;
	m->default_sample_type = p->default_type;

	Perftools__Profiles__Sample *ss = (void *)b;
	b += p->n_samples * sizeof(*ss);
	m->sample = (void *)b;
	b += p->n_samples * sizeof(void *);
	m->n_sample = p->n_samples;
	for (size_t i = 0; i < p->n_samples; i++) {
		perftools__profiles__sample__init(&ss[i]);
		ss[i].location_id = p->sample_locs + p->samples[i].first_loc;
		ss[i].n_location_id = p->samples[i].n_locs;
		ss[i].value = p->values + p->samples[i].first_value;
		ss[i].n_value = p->n_types;
		m->sample[i] = &ss[i];
	}
	m->mapping = (void *)b;
	b += p->n_mappings * sizeof(void *);
	m->n_mapping = p->n_mappings;
	for (size_t i = 0; i < p->n_mappings; i++)
		m->mapping[i] = &p->mappings[i];

	Perftools__Profiles__Line *ls = (void *)b;
	b += p->n_lines * sizeof(*ls);
	Perftools__Profiles__Line **lp = (void *)b;
	b += p->n_lines * sizeof(void *);
	for (size_t i = 0; i < p->n_lines; i++) {
		perftools__profiles__line__init(&ls[i]);
		ls[i].function_id = p->lines[i].function;
		ls[i].line = p->lines[i].line;
		lp[i] = &ls[i];
	}
	Perftools__Profiles__Location *lo = (void *)b;
	b += p->n_locations * sizeof(*lo);
	m->location = (void *)b;
	b += p->n_locations * sizeof(void *);
	m->n_location = p->n_locations;
	for (size_t i = 0; i < p->n_locations; i++) {
		perftools__profiles__location__init(&lo[i]);
		lo[i].id = i + 1;
		lo[i].mapping_id = p->locations[i].mapping;
		lo[i].address = p->locations[i].address;
		lo[i].line = lp + p->locations[i].first_line;
		lo[i].n_line = p->locations[i].n_lines;
		m->location[i] = &lo[i];
	}
	Perftools__Profiles__Function *fs = (void *)b;
	b += p->n_functions * sizeof(*fs);
	m->function = (void *)b;
	m->n_function = p->n_functions;
	for (size_t i = 0; i < p->n_functions; i++) {
		perftools__profiles__function__init(&fs[i]);
		fs[i].id = i + 1;
		fs[i].name = p->functions[i].name;
		fs[i].system_name = p->functions[i].named ? 0 : p->functions[i].name;
		fs[i].filename = p->functions[i].file;
		m->function[i] = &fs[i];
	}
	m->string_table = p->strings;
	m->n_string_table = p->n_strings;
	m->comment = p->comments;
	m->n_comment = p->n_comments;
	return true;
}

/* in (n bytes) gzipped into *ret (malloc'd), *n_ret bytes. */
static bool gzip_buffer(const uint8_t *in, size_t n, uint8_t **ret, size_t *n_ret)
{
	z_stream z = { 0 };
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	size_t cap = deflateBound(&z, n) + 64;
	uint8_t *out = malloc(cap);
	bool ok = out != NULL;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ok = ok && n < UINT32_MAX && deflate(&z, Z_FINISH) == Z_STREAM_END;
	*n_ret = cap - z.avail_out;
	deflateEnd(&z);
	if (!ok) {
		free(out);
		return false;
	}
	*ret = out;
	return true;
}

/* To standard output the bytes go to the descriptor itself: stdout is a
 * stream that escapes control bytes for terminals (cprof/terminal.h). */
static struct cprof_error *write_stdout(const uint8_t *data, size_t n)
{
	fflush(stdout);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cprof_error_os(errno, "standard output", "cannot write the profile");
		data += w;
		n -= (size_t)w;
	}
	return NULL;
}

static struct cprof_error *write_file(const char *path, const uint8_t *data, size_t n)
{
	bool out = !strcmp(path, "-");
	if (out)
		return write_stdout(data, n);
	FILE *f = fopen(path, "wb");
	if (!f)
		return cprof_error_os(errno, path, "cannot create the profile");
	size_t w = fwrite(data, 1, n, f);
	int e = errno;
	if (fclose(f) != 0)
		w = 0, e = errno;
	if (w != n) {
		unlink(path);
		return cprof_error_os(e, path, "cannot write the profile");
	}
	return NULL;
}

struct cprof_error *cprof_pprof_write(struct cprof_pprof *p, const char *path)
{
	Perftools__Profiles__Profile m;
	void *block = NULL;
	if (!to_message(p, &m, &block))
		return &cprof_enomem;
	size_t n = perftools__profiles__profile__get_packed_size(&m);
	uint8_t *buf = malloc(n ? n : 1), *gz = NULL;
	size_t n_gz = 0;
	struct cprof_error *err = NULL;
	if (!buf)
		err = &cprof_enomem;
	else if (perftools__profiles__profile__pack(&m, buf) != n)
		err = cprof_error_create(CPROF_ERROR_LIB, "%s: protobuf-c packed a profile of the wrong size", path);
	else if (!gzip_buffer(buf, n, &gz, &n_gz))
		err = cprof_error_create(CPROF_ERROR_LIB, "%s: zlib could not compress the profile", path);
	else
		err = write_file(path, gz, n_gz);
	free(block);
	free(buf);
	free(gz);
	return err;
}
