#!/usr/bin/env python3
"""Embeds formats/schema.sql into a C file as two strings: the statements
before the '-- @indexes' line (schema) and after it (indexes)."""
import sys

src, out = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
marker = "\n-- @indexes\n"
if marker not in text:
    sys.exit(f"{src}: no '-- @indexes' line")
schema, indexes = text.split(marker, 1)

def c_string(s):
    lines = s.splitlines()
    body = "\n".join('\t"' + l.replace("\\", "\\\\").replace('"', '\\"') + '\\n"'
                     for l in lines if l.strip() and not l.lstrip().startswith("--"))
    return body or '\t""'

with open(out, "w", encoding="utf-8") as f:
    f.write("/* Generated from formats/schema.sql by src/store/embed-sql.py. */\n")
    f.write("const char cprof_schema_sql[] =\n" + c_string(schema) + ";\n")
    f.write("const char cprof_indexes_sql[] =\n" + c_string(indexes) + ";\n")
