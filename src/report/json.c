/*
 * json.c - the streaming JSON writer (see include/cprof/json.h).
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "cprof/json.h"

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->need_comma[0] = false;
	j->after_key = false;
}

/* Writes the separator a new value needs at this point. */
static void value_prefix(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	j->need_comma[j->depth] = true;
}

static void open_container(struct json *j, char c)
{
	value_prefix(j);
	fputc(c, j->out);
	assert(j->depth + 1 < JSON_MAX_DEPTH);
	j->need_comma[++j->depth] = false;
}

static void close_container(struct json *j, char c)
{
	assert(j->depth > 0);
	j->depth--;
	fputc(c, j->out);
}

void json_object_begin(struct json *j) { open_container(j, '{'); }
void json_object_end(struct json *j) { close_container(j, '}'); }
void json_array_begin(struct json *j) { open_container(j, '['); }
void json_array_end(struct json *j) { close_container(j, ']'); }

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when
 * the bytes there are not one: shortest form, no surrogate, <= U+10FFFF. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		     s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/*
 * A JSON string that strict parsers accept and terminals can show: control
 * characters (C0, DEL, and the C1 range U+0080-U+009F) as \u escapes, and
 * every byte that is not part of valid UTF-8 as U+FFFD (strings from the
 * core are not always UTF-8: formats/README.md says so).
 */
static void write_escaped(FILE *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		switch (c) {
		case '"': fputs("\\\"", out); continue;
		case '\\': fputs("\\\\", out); continue;
		case '\n': fputs("\\n", out); continue;
		case '\t': fputs("\\t", out); continue;
		case '\r': fputs("\\r", out); continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			continue;
		}
		if (c < 0x80) {
			fputc(c, out);
			continue;
		}
		size_t len = utf8_valid(s + i, n - i);
		if (!len) {
			fputs("\\ufffd", out);
		} else if (len == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
			fprintf(out, "\\u%04x", s[i + 1]);   /* a C1 control */
			i++;
		} else {
			fwrite(s + i, 1, len, out);
			i += len - 1;
		}
	}
	fputc('"', out);
}

void json_key(struct json *j, const char *key)
{
	value_prefix(j);
	write_escaped(j->out, key, strlen(key));
	fputc(':', j->out);
	j->after_key = true;
}

void json_string_n(struct json *j, const char *s, size_t n)
{
	value_prefix(j);
	write_escaped(j->out, s, n);
}

void json_string(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	json_string_n(j, s, strlen(s));
}

void json_int(struct json *j, int64_t v)
{
	value_prefix(j);
	fprintf(j->out, "%" PRId64, v);
}

void json_uint(struct json *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->out, "%" PRIu64, v);
}

void json_hex(struct json *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->out, "\"0x%" PRIx64 "\"", v);
}

void json_bool(struct json *j, bool v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->out);
}

void json_double(struct json *j, double v)
{
	value_prefix(j);
	fprintf(j->out, "%.3f", v);
}

void json_null(struct json *j)
{
	value_prefix(j);
	fputs("null", j->out);
}

void json_finish(struct json *j)
{
	assert(j->depth == 0);
	fputc('\n', j->out);
}

void json_kv_string(struct json *j, const char *k, const char *s) { json_key(j, k); json_string(j, s); }
void json_kv_int(struct json *j, const char *k, int64_t v) { json_key(j, k); json_int(j, v); }
void json_kv_uint(struct json *j, const char *k, uint64_t v) { json_key(j, k); json_uint(j, v); }
void json_kv_hex(struct json *j, const char *k, uint64_t v) { json_key(j, k); json_hex(j, v); }
void json_kv_bool(struct json *j, const char *k, bool v) { json_key(j, k); json_bool(j, v); }
void json_kv_double(struct json *j, const char *k, double v) { json_key(j, k); json_double(j, v); }
