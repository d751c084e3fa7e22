/*
 * json.h - a streaming JSON writer for --json output.
 *
 * The writer keeps a small stack of open containers so that it places the
 * commas; callers say only what they write.  Keys and values are escaped.
 * 64-bit addresses are written as "0x..." strings (the formats/ docs explain why);
 * counts and sizes as numbers.
 *
 *     struct json j; json_init(&j, stdout);
 *     json_object_begin(&j);
 *     json_key(&j, "pid"); json_int(&j, 42);
 *     json_object_end(&j);
 *     json_finish(&j);          (writes the final newline)
 */
#ifndef CPROF_JSON_H
#define CPROF_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { JSON_MAX_DEPTH = 32 };

struct json {
	FILE *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool after_key;
};

void json_init(struct json *j, FILE *out);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);   /* NULL writes null */
void json_string_n(struct json *j, const char *s, size_t n);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_hex(struct json *j, uint64_t v);          /* "0x..." */
void json_bool(struct json *j, bool v);
void json_double(struct json *j, double v);          /* %.3f */
void json_null(struct json *j);
void json_finish(struct json *j);

/* Key-value shorthands. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_hex(struct json *j, const char *key, uint64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);
void json_kv_double(struct json *j, const char *key, double v);

#endif
