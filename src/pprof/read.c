/*
 * read.c - reading a heap profile (include/cprof/pprof.h): profile.proto,
 * gzipped or not, and the legacy text heap profiles `go tool pprof` reads
 * too: gperftools' ("heap profile: N: B [N: B] @ heapprofile", then one line
 * per stack) and jemalloc's prof dumps ("heap_v2/RATE", then per stack "@
 * 0x... 0x..." and its "t*:" totals); both end with MAPPED_LIBRARIES (the
 * process's /proc/PID/maps).
 *
 * The file is untrusted: sizes are bounded, every location id a sample names
 * must exist, and a sample has one value per sample type.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cprof/pprof.h"
#include "profile.pb-c.h"

enum {
	MAX_FILE = 1 << 30,        /* a heap profile of a GiB is not one */
	MAX_STACK = 1 << 16,
};

/* What the strings and arrays of a read profile live in. */
struct priv {
	Perftools__Profiles__Profile *pb;  /* protobuf-c's, or NULL (legacy) */
	char *text;                /* the legacy file's bytes, or NULL */
	char *empty;
	size_t cap_samples;        /* legacy: samples allocated (one may be half read) */
};

static struct cprof_error *parse(const char *path, uint8_t *data, size_t n,
				 struct cprof_pprof_profile *ret);

static struct cprof_error *read_all(const char *path, uint8_t **ret, size_t *n_ret)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return cprof_error_os(errno, path, "cannot open the profile");
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap + 1);
	struct cprof_error *err = NULL;
	while (buf && !err) {
		if (n == cap) {
			uint8_t *b = cap < MAX_FILE ? realloc(buf, 2 * cap + 1) : NULL;
			if (!b) {
				err = cap < MAX_FILE ? &cprof_enomem :
				      cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: bigger than %d bytes: not a heap profile",
							 path, MAX_FILE);
				break;
			}
			buf = b;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				err = cprof_error_os(errno, path, "cannot read the profile");
			break;
		}
	}
	fclose(f);
	if (!buf && !err)
		err = &cprof_enomem;
	if (err) {
		free(buf);
		return err;
	}
	*ret = buf;
	*n_ret = n;
	return NULL;
}

/* Inflates a gzip stream. */
static struct cprof_error *gunzip(const char *path, const uint8_t *in, size_t n,
				  uint8_t **ret, size_t *n_ret)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return cprof_error_create(CPROF_ERROR_LIB, "%s: zlib: inflateInit2 failed", path);
	size_t cap = 4 * n + 4096, len = 0;
	uint8_t *out = malloc(cap + 1);
	int rc = Z_OK;
	z.next_in = (Bytef *)in;
	z.avail_in = n < UINT32_MAX ? (uInt)n : UINT32_MAX;
	while (out && rc == Z_OK) {
		if (len == cap) {
			uint8_t *b = cap < MAX_FILE ? realloc(out, 2 * cap + 1) : NULL;
			if (!b) {
				free(out);
				out = NULL;
				break;
			}
			out = b;
			cap *= 2;
		}
		z.next_out = out + len;
		z.avail_out = (uInt)(cap - len);
		rc = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
	}
	inflateEnd(&z);
	if (!out)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: inflates to more than %d bytes: not a heap profile",
					  path, MAX_FILE);
	if (rc != Z_STREAM_END) {
		free(out);
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: a damaged gzip stream (zlib: %s)",
					  path, z.msg ? z.msg : "truncated");
	}
	*ret = out;
	*n_ret = len;
	return NULL;
}

/* ---- profile.proto ---- */

static const char *pb_string(const Perftools__Profiles__Profile *pb, int64_t i)
{
	return i >= 0 && (size_t)i < pb->n_string_table ? pb->string_table[i] : "";
}

/* The location with id (ids are usually 1..n in order; else a search). */
static const Perftools__Profiles__Location *pb_location(const Perftools__Profiles__Profile *pb,
							uint64_t id)
{
	if (id >= 1 && id <= pb->n_location && pb->location[id - 1]->id == id)
		return pb->location[id - 1];
	for (size_t i = 0; i < pb->n_location; i++)
		if (pb->location[i]->id == id)
			return pb->location[i];
	return NULL;
}

static const char *pb_function_name(const Perftools__Profiles__Profile *pb, uint64_t id)
{
	for (size_t i = id >= 1 && id <= pb->n_function ? id - 1 : 0; i < pb->n_function; i++)
		if (pb->function[i]->id == id)
			return pb_string(pb, pb->function[i]->name);
	return NULL;
}

static struct cprof_error *from_proto(const char *path, const uint8_t *data, size_t n,
				      struct cprof_pprof_profile *p)
{
	Perftools__Profiles__Profile *pb = perftools__profiles__profile__unpack(NULL, n, data);
	if (!pb)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: not a pprof profile (profile.proto does not decode)",
					  path);
	((struct priv *)p->priv)->pb = pb;
	p->format = "profile.proto";
	p->n_types = pb->n_sample_type;
	p->types = calloc(p->n_types + 1, sizeof(char *));
	p->units = calloc(p->n_types + 1, sizeof(char *));
	p->samples = calloc(pb->n_sample + 1, sizeof(*p->samples));
	p->mappings = calloc(pb->n_mapping + 1, sizeof(*p->mappings));
	if (!p->types || !p->units || !p->samples || !p->mappings)
		return &cprof_enomem;
	for (size_t i = 0; i < p->n_types; i++) {
		p->types[i] = (char *)pb_string(pb, pb->sample_type[i]->type);
		p->units[i] = (char *)pb_string(pb, pb->sample_type[i]->unit);
	}
	p->period = pb->period;
	p->time_nanos = pb->time_nanos;
	for (size_t i = 0; i < pb->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = pb->mapping[i];
		p->mappings[i] = (struct cprof_pprof_mapping){ m->memory_start, m->memory_limit,
			m->file_offset, (char *)pb_string(pb, m->filename), (char *)pb_string(pb, m->build_id) };
	}
	p->n_mappings = pb->n_mapping;
	int64_t bytes_key = -1;
	for (size_t i = 0; i < pb->n_string_table; i++)
		if (!strcmp(pb->string_table[i], "bytes"))
			bytes_key = (int64_t)i;
	for (size_t i = 0; i < pb->n_sample; i++) {
		const Perftools__Profiles__Sample *s = pb->sample[i];
		struct cprof_pprof_sample *o = &p->samples[i];
		p->n_samples = i + 1;
		if (s->n_value != p->n_types)
			return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: sample %zu has %zu values for %zu sample types",
						  path, i, s->n_value, p->n_types);
		o->values = s->value;
		o->addrs = calloc(s->n_location_id + 1, sizeof(*o->addrs));
		o->functions = calloc(s->n_location_id + 1, sizeof(*o->functions));
		if (!o->addrs || !o->functions)
			return &cprof_enomem;
		for (size_t k = 0; k < s->n_location_id; k++) {
			const Perftools__Profiles__Location *l = pb_location(pb, s->location_id[k]);
			if (!l)
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: sample %zu names location %" PRIu64 ", which is not in the profile",
							  path, i, s->location_id[k]);
			o->addrs[k] = l->address;
			/* the function the address is in: its outermost line */
			o->functions[k] = l->n_line ?
				(char *)pb_function_name(pb, l->line[l->n_line - 1]->function_id) : NULL;
		}
		o->n_addrs = s->n_location_id;
		for (size_t k = 0; k < s->n_label; k++)
			if (bytes_key >= 0 && s->label[k]->key == bytes_key)
				o->bytes = s->label[k]->num;
	}
	return NULL;
}

/* ---- legacy text profiles ---- */

/* "N: B [N: B]" at *s: in-use and allocated objects and bytes. */
static bool parse_counts(char **s, int64_t v[4])
{
	char *e;
	for (int i = 0; i < 4; i++) {
		while (**s == ' ' || **s == '[' || **s == ':' || **s == '\t')
			(*s)++;
		errno = 0;
		v[i] = strtoll(*s, &e, 10);
		if (e == *s || errno)
			return false;
		*s = e;
	}
	while (**s == ' ' || **s == ']')
		(*s)++;
	return true;
}

/* The hex addresses after '@' on line s into o. */
static bool parse_stack(char *s, struct cprof_pprof_sample *o)
{
	size_t cap = 16;
	o->addrs = malloc(cap * sizeof(*o->addrs));
	o->n_addrs = 0;
	while (o->addrs) {
		while (*s == ' ' || *s == '@' || *s == '\t')
			s++;
		if (!*s)
			return true;
		char *e;
		errno = 0;
		uint64_t a = strtoull(s, &e, 16);
		if (e == s || errno || o->n_addrs == MAX_STACK)
			return false;
		s = e;
		if (o->n_addrs == cap) {
			uint64_t *b = realloc(o->addrs, 2 * cap * sizeof(*b));
			if (!b)
				return false;
			o->addrs = b;
			cap *= 2;
		}
		o->addrs[o->n_addrs++] = a;
	}
	return false;
}

/* A MAPPED_LIBRARIES line ("start-end perms offset dev inode path"). */
static void parse_map(char *s, struct cprof_pprof_profile *p, char *empty)
{
	unsigned long long start, end, off;
	char perms[8];
	int pos = 0;
	if (sscanf(s, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pos) < 4 ||
	    !strchr(perms, 'x'))
		return;
	p->mappings[p->n_mappings++] = (struct cprof_pprof_mapping){ start, end, off,
		pos ? s + pos : empty, empty };
}

/* The sampling period a legacy header names, as go tool pprof reads it:
 * jemalloc's "heap_v2/RATE"; gperftools' "... @ heapprofile" (its heap
 * profiler records every allocation: 1), "@ heap_v2/RATE", "@ heap/2RATE". */
static int64_t header_period(const char *s, bool jemalloc)
{
	const char *at = jemalloc ? s : strrchr(s, '@');
	if (!at)
		return 0;
	at += strspn(at, "@ ");
	if (!strncmp(at, "heapprofile", 11))
		return 1;
	const char *r = strchr(at, '/');
	int64_t rate = r ? strtoll(r + 1, NULL, 10) : 0;
	return strncmp(at, "heap/", 5) ? rate : rate / 2;
}

/* The sample being read is complete, with its counts v. */
static void legacy_sample(struct cprof_pprof_profile *p, int64_t *v)
{
	p->samples[p->n_samples++].values = v;
}

static struct cprof_error *from_text(const char *path, char *text, size_t n,
				     struct cprof_pprof_profile *p)
{
	static const char *const types[] = { "inuse_objects", "inuse_space", "alloc_objects",
					     "alloc_space" };
	static const char *const units[] = { "count", "bytes", "count", "bytes" };
	bool jemalloc = !strncmp(text, "heap_v2/", 8);
	p->format = jemalloc ? "jemalloc heap_v2" : "gperftools heap";
	p->return_addresses = true;
	p->types = (char **)types;
	p->units = (char **)units;
	p->n_types = 4;
	size_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += text[i] == '\n';
	p->samples = calloc(lines, sizeof(*p->samples));
	((struct priv *)p->priv)->cap_samples = lines;
	p->mappings = calloc(lines, sizeof(*p->mappings));
	int64_t *values = calloc(4 * lines, sizeof(*values));
	((struct priv *)p->priv)->empty = calloc(1, 1);
	if (!p->samples || !p->mappings || !values || !((struct priv *)p->priv)->empty) {
		free(values);
		return &cprof_enomem;
	}
	p->samples[0].values = values;     /* freed with the first sample */
	char *empty = ((struct priv *)p->priv)->empty;
	bool maps = false, have_stack = false;
	size_t ln = 0;
	for (char *s = text, *next; s && *s; s = next, ln++) {
		next = strchr(s, '\n');
		if (next)
			*next++ = '\0';
		if (ln == 0) {
			p->period = header_period(s, jemalloc);
			if (jemalloc)
				continue;
			char *q = strchr(s, ':');
			int64_t v[4];
			if (!q || !parse_counts(&(char *){ q + 1 }, v))
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: line 1: not a heap profile header",
							  path);
			continue;
		}
		if (!strncmp(s, "MAPPED_LIBRARIES:", 17)) {
			maps = true;
			continue;
		}
		if (maps) {
			parse_map(s, p, empty);
			continue;
		}
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			continue;
		int64_t *v = values + 4 * p->n_samples;
		struct cprof_pprof_sample *o = &p->samples[p->n_samples];
		if (jemalloc && s[0] == '@') {        /* the stack, then its counts */
			if (have_stack)
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: line %zu: a stack without its t*: line",
							  path, ln + 1);
			if (!parse_stack(s, o))
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: line %zu: a bad stack", path, ln + 1);
			have_stack = true;
		} else if (jemalloc && !strncmp(s, "t*:", 3) && have_stack) {
			char *q = s + 3;
			if (!parse_counts(&q, v))
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: line %zu: bad counts", path, ln + 1);
			have_stack = false;
			legacy_sample(p, v);
		} else if (!jemalloc) {
			char *q = s;
			if (!parse_counts(&q, v) || *q != '@' || !parse_stack(q, o))
				return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: line %zu: not a heap profile sample",
							  path, ln + 1);
			legacy_sample(p, v);
		}
	}
	if (have_stack)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: the last stack has no t*: line", path);
	return NULL;
}

struct cprof_error *cprof_pprof_read(const char *path, struct cprof_pprof_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	uint8_t *data;
	size_t n;
	struct cprof_error *err = read_all(path, &data, &n);
	if (err)
		return err;
	return parse(path, data, n, ret);
}

struct cprof_error *cprof_pprof_read_buffer(const char *name, const void *buf, size_t n,
					    struct cprof_pprof_profile *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (n > MAX_FILE)
		return cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: bigger than %d bytes: not a heap profile",
					  name, MAX_FILE);
	uint8_t *data = malloc(n + 1);
	if (!data)
		return &cprof_enomem;
	memcpy(data, buf, n);
	return parse(name, data, n, ret);
}

/* Parses data[0, n) (n + 1 bytes allocated, owned here). */
static struct cprof_error *parse(const char *path, uint8_t *data, size_t n,
				 struct cprof_pprof_profile *ret)
{
	uint8_t *raw = NULL;
	struct cprof_error *err = NULL;
	if (!(ret->priv = calloc(1, sizeof(struct priv)))) {
		free(data);
		return &cprof_enomem;
	}
	if (n >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		raw = data;
		err = gunzip(path, raw, n, &data, &n);
		free(raw);
		if (err) {
			cprof_pprof_profile_deinit(ret);
			return err;
		}
	}
	data[n] = '\0';
	if (!n)
		err = cprof_error_create(CPROF_ERROR_BAD_DATA, "%s: empty: not a heap profile", path);
	else if (!strncmp((char *)data, "heap profile:", 13) || !strncmp((char *)data, "heap_v2/", 8)) {
		((struct priv *)ret->priv)->text = (char *)data;
		err = from_text(path, (char *)data, n, ret);
		data = NULL;
	} else {
		err = from_proto(path, data, n, ret);
	}
	free(data);
	if (err)
		cprof_pprof_profile_deinit(ret);
	return err;
}

void cprof_pprof_profile_deinit(struct cprof_pprof_profile *p)
{
	struct priv *v = p->priv;
	size_t n = v && v->cap_samples ? v->cap_samples : p->n_samples;
	for (size_t i = 0; p->samples && i < n; i++) {
		free(p->samples[i].addrs);
		free(p->samples[i].functions);
	}
	if (v && v->text && p->samples)
		free(p->samples[0].values);
	if (v && v->pb) {
		free(p->types);
		free(p->units);
		perftools__profiles__profile__free_unpacked(v->pb, NULL);
	}
	if (v) {
		free(v->text);
		free(v->empty);
	}
	free(p->samples);
	free(p->mappings);
	free(v);
	memset(p, 0, sizeof(*p));
}

int cprof_pprof_type_index(const struct cprof_pprof_profile *p, const char *name)
{
	for (size_t i = 0; i < p->n_types; i++)
		if (!strcmp(p->types[i], name))
			return (int)i;
	return -1;
}
