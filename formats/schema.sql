-- cprof.db: the schema.  The single source of truth: the tool embeds this
-- file at build time (src/store/embed-sql.py) and docs/schema.md documents it.
--
-- Conventions (after Perfetto's heap-graph tables):
--   * every table has an integer `id` that other tables reference;
--   * addresses and sizes are INTEGER (user-space addresses fit in 63 bits);
--   * enumerations are short lower-case TEXT ('used', 'free', 'core', ...);
--   * NULL means unknown or not applicable, never zero.
-- Every statement runs when the file is made, tables and indexes empty: the
-- object and ref tables and their indexes are then written in key order by
-- src/store/bulk.c (which checks their columns against this file), the other
-- tables by SQLite's inserts.

-- Key/value facts about the run: schema_version (2), tool_version, core path,
-- executable, created (UTC, ISO 8601), command line, refs, pid,
-- process_command, dumper (kernel | gcore | unknown), signal (the one that
-- killed the process; 0 when not killed: gcore), ...
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT
);

-- ELF objects the process had loaded (executable, the dynamic linker's list,
-- vdso); a file that is only mapped is not one.
CREATE TABLE module (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  path          TEXT,              -- the file used, NULL when none was found
  start         INTEGER NOT NULL,
  end           INTEGER NOT NULL,
  build_id      TEXT,              -- as the core holds it
  file_build_id TEXT,              -- of the file found
  status        TEXT NOT NULL,     -- ok | mismatch | missing | unverified | unusable
  debug_file    TEXT               -- separate debug info, when found
);

-- Mappings of the process: one per PT_LOAD of the core.
CREATE TABLE mapping (
  id            INTEGER PRIMARY KEY,
  start         INTEGER NOT NULL,
  end           INTEGER NOT NULL,
  perms         TEXT NOT NULL,     -- 'rwx' with '-' for absent rights
  file          TEXT,              -- NT_FILE path, NULL for anonymous memory
  file_offset   INTEGER,
  source        TEXT NOT NULL,     -- core | file | missing | mixed
  core_bytes    INTEGER NOT NULL,  -- bytes held in the core
  file_bytes    INTEGER NOT NULL,  -- bytes read from the file instead
  missing_bytes INTEGER NOT NULL,  -- bytes nowhere to be had
  module_id     INTEGER REFERENCES module(id),
  role          TEXT               -- what it is, as info says: heap | heap reserve |
                                   -- thread stack | module data | module code | file |
                                   -- anonymous | no access (gcore writes no-access
                                   -- mappings readable: perms say r--, role no access)
);

-- Threads, in the core's order (the signaled one first).
CREATE TABLE thread (
  id        INTEGER PRIMARY KEY,
  tid       INTEGER NOT NULL,
  signaled  INTEGER NOT NULL,      -- 0/1
  rip       INTEGER,
  rsp       INTEGER,
  fs_base   INTEGER
);

-- Stack frames of each thread, innermost first (depth 0).
CREATE TABLE frame (
  id         INTEGER PRIMARY KEY,
  thread_id  INTEGER NOT NULL REFERENCES thread(id),
  depth      INTEGER NOT NULL,
  pc         INTEGER NOT NULL,
  sp         INTEGER,
  module_id  INTEGER REFERENCES module(id),
  function   TEXT,
  offset     INTEGER,
  file       TEXT,                 -- file:line of the frame's own function (Go: not of
  line       INTEGER,              -- a call inlined there; `info` lists those)
  unwound_by TEXT NOT NULL         -- initial | cfi | frame_pointer
);

-- The allocators found in the process, walked or not (tcmalloc: found, not
-- walked yet).  A heap that is 'not_walked' is in no figure of
-- this database: every report of leaks, sizes or retention says so.
CREATE TABLE allocator (
  id            INTEGER PRIMARY KEY,  -- heap.allocator names it by name
  name          TEXT NOT NULL,     -- glibc | jemalloc | tcmalloc | go | unknown (malloc
                                   -- resolves to a module no walker knows: mimalloc...)
  version       TEXT,              -- "2.36", "5.3.0", "1.26.8"; NULL when unknown
  module        TEXT,              -- the module its code is in: "libjemalloc.so.2"
  serves_malloc INTEGER NOT NULL,  -- 1: the process's malloc resolves to it
  malloc_found_by TEXT,            -- how: "the executable's GOT entry for malloc"
  heap          TEXT NOT NULL,     -- walked | unused (never initialized) | not_walked
  reason        TEXT,              -- why not walked, or unused: NULL when walked
  found_by      TEXT NOT NULL      -- how the allocator was found
);

-- Regions objects live in: an arena's heap, the mmapped chunks.
CREATE TABLE heap (
  id         INTEGER PRIMARY KEY,
  allocator  TEXT NOT NULL,        -- glibc | go (allocator.name)
  kind       TEXT NOT NULL,        -- main_arena | arena | mmap (glibc); span | large (go);
                                   -- slab | large | dirty | muzzy | retained (jemalloc)
  arena      INTEGER,              -- the owning arena (glibc: malloc_state address;
                                   -- jemalloc: its index, NULL for 0)
  start      INTEGER NOT NULL,
  end        INTEGER NOT NULL
);

-- Arenas and their totals, as the walk found them.
CREATE TABLE arena (
  id          INTEGER PRIMARY KEY,
  allocator   TEXT NOT NULL,
  addr        INTEGER NOT NULL,
  kind        TEXT NOT NULL,       -- main_arena | arena
  system_mem  INTEGER,
  heaps       INTEGER,
  used_count  INTEGER NOT NULL,
  used_bytes  INTEGER NOT NULL,
  free_count  INTEGER NOT NULL,
  free_bytes  INTEGER NOT NULL
);

-- The allocator's own accounting, reproduced from the core (glibc:
-- mallinfo2's fields under their names).
CREATE TABLE allocator_stat (
  allocator  TEXT NOT NULL,
  source     TEXT NOT NULL,        -- mallinfo2 | MemStats | mallctl
  name       TEXT NOT NULL,
  value      INTEGER NOT NULL,
  PRIMARY KEY (allocator, name)
) WITHOUT ROWID;

-- Every chunk the allocators know: used and free, in address order.
CREATE TABLE object (
  id            INTEGER PRIMARY KEY,  -- 0-based, in address order
  addr          INTEGER NOT NULL,     -- the user address (what malloc returned)
  size          INTEGER NOT NULL,     -- usable size (malloc_usable_size)
  state         TEXT NOT NULL,        -- used | free
  heap_id       INTEGER NOT NULL REFERENCES heap(id),
  free_list     TEXT,                 -- in the allocator's words; glibc: tcache | fastbin |
                                      -- unsorted | smallbin | largebin | top | other
                                      -- jemalloc: tcache | slab | dirty | muzzy | retained
  flags         INTEGER NOT NULL,     -- allocator flags (glibc: size & 7); 256: allocator metadata
  reachable     INTEGER,              -- 1 a root reaches it, 0 leaked; NULL for free chunks and metadata
  interior_only INTEGER,              -- 1 reachable only through pointers into the middle of some object
                                      -- (valgrind's "possibly lost"; 0 for Go objects)
  leak          TEXT,                 -- direct (a leak root) | indirect | garbage (Go: unreachable, freed by the next GC) | NULL
  holds_count   INTEGER,              -- leak roots: chunks held (itself included)
  holds_bytes   INTEGER,              -- leak roots: their bytes
  preview       BLOB,                 -- leak roots: their first 64 bytes (fewer if smaller)
  pointers      TEXT,                 -- leak roots: words of the preview pointing into modules,
                                      -- symbolized: "+0x0 app!_ZTV3Foo+0x10; +0x18 app!handler"
  idom          INTEGER,              -- immediate dominator, when it is an object (else see retaining_root)
  retained_bytes INTEGER,             -- bytes freed if this object were freed (itself included)
  retained_count INTEGER,             -- objects freed likewise
  retaining_root INTEGER,             -- root_node that retains it (the nearest on its dominator chain);
                                      -- NULL when only the super-root does: shared between roots
  root_distance INTEGER,              -- pointers on a shortest path from a root (1: a root slot points to it)
  path_parent   INTEGER,              -- the previous object on that path (NULL at distance 1)
  path_root_ref INTEGER,              -- at distance 1: the root_ref that points to it
  type_id       INTEGER REFERENCES type(id),  -- NULL: unknown (size only)
  type_source   TEXT                  -- how the type was found: vtable | dwarf (a typed pointer
                                      -- from a root leads to it) | runtime (Go: malloc header,
                                      -- span) | layout (a guess, never followed) | NULL (unknown)
);

-- Types of objects: from DWARF (a typed pointer led to the object) or a C++
-- vtable; arrays ("struct block[12]") are types of their own.
CREATE TABLE type (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL,      -- "struct block", "Circle", "char[40]"
  size  INTEGER NOT NULL,   -- bytes of one; 0 when unknown (vtable classes)
  element_id INTEGER REFERENCES type(id),  -- arrays: the element's type
  count INTEGER             -- arrays: the number of elements
);

-- The typed pointer members of the types objects have (what `path` names).
CREATE TABLE type_field (
  type_id  INTEGER NOT NULL REFERENCES type(id),
  offset   INTEGER NOT NULL,  -- within one element
  name     TEXT NOT NULL,     -- "next", "hdr.owner", "items[3]"
  target   INTEGER REFERENCES type(id), -- NULL: decided per object (Go interfaces,
                                        -- channel buffers, closures, map directories)
  PRIMARY KEY (type_id, offset)
) WITHOUT ROWID;

-- The hierarchy of roots above the objects in the dominator tree: a super-root
-- (id 0) over threads (their frames, registers, TLS), modules (their global
-- variables) and mappings, and a "leaked" node (id 1) over every leak root.
CREATE TABLE root_node (
  id             INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL,     -- super | leaked | thread | frame | registers | tls | module | global | mapping | goroutines | goroutine | special
  name           TEXT NOT NULL,     -- "thread 1234 frame 2 worker (app.c:40)", "app!block_cache", ...
  parent_id      INTEGER REFERENCES root_node(id),
  thread_id      INTEGER REFERENCES thread(id),
  module_id      INTEGER REFERENCES module(id),
  retained_bytes INTEGER NOT NULL,  -- what it alone keeps alive
  retained_count INTEGER NOT NULL
);

-- Where pointers into the heap are held from outside it.
CREATE TABLE root (
  id         INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL,        -- registers | stack | tls | globals | mapping | goroutine | special
  name       TEXT NOT NULL,        -- "thread 1234 stack", "libfoo.so data", ...
  thread_id  INTEGER REFERENCES thread(id),
  module_id  INTEGER REFERENCES module(id),
  start      INTEGER,              -- the memory scanned; NULL for registers
  end        INTEGER
);

-- Pointers from roots to objects: one row per root slot that points into a used chunk.
CREATE TABLE root_ref (
  id         INTEGER PRIMARY KEY,
  root_id    INTEGER NOT NULL REFERENCES root(id),
  slot       INTEGER NOT NULL,     -- the pointer's address (registers: the register's index)
  slot_name  TEXT,                 -- "thread 1234 frame 2 worker (app.c:40)", "app!cache+0x8", "thread 1234 register rbx"
  dst        INTEGER NOT NULL REFERENCES object(id),
  dst_offset INTEGER NOT NULL      -- 0: points at the start
);

-- Go: the goroutines (runtime.allgs, less the dead ones).  Their stacks are
-- roots; each goroutine is a root_node under its group's.
CREATE TABLE goroutine (
  id            INTEGER PRIMARY KEY,
  goid          INTEGER NOT NULL,
  addr          INTEGER NOT NULL,    -- its runtime.g
  status        TEXT NOT NULL,       -- waiting | runnable | running | syscall | ... (the runtime's words)
  wait_reason   TEXT,                -- "chan receive", when waiting
  group_id      INTEGER NOT NULL REFERENCES goroutine_group(id),
  thread_id     INTEGER REFERENCES thread(id),   -- running: the thread running it
  stack_lo      INTEGER,
  stack_hi      INTEGER,
  sp            INTEGER,             -- its stack is live (and scanned) from here to stack_hi
  function      TEXT,                -- the function it runs (startpc)
  created_by    TEXT,                -- the go statement: "main.main (main.go:40)"
  parent_goid   INTEGER,
  root_node_id  INTEGER REFERENCES root_node(id), -- what it alone retains (NULL: it holds nothing)
  signalled     INTEGER NOT NULL     -- 1: the fatal signal interrupted it (a kernel core's
                                     -- crashing thread ran it: the traceback prints it first)
);
-- Its calls, innermost first, as the runtime's traceback prints them: the calls
-- inlined into a stack frame (inlined = 1, from the pclntab's inline tree) come
-- before the frame's own function, and share its pc and sp.
CREATE TABLE goroutine_frame (
  goroutine_id  INTEGER NOT NULL REFERENCES goroutine(id),
  depth         INTEGER NOT NULL,    -- 0: innermost
  pc            INTEGER NOT NULL,    -- the stack frame's (a return address but in frame 0)
  sp            INTEGER,
  function      TEXT,
  offset        INTEGER,             -- pc - the function's entry; NULL when inlined
  file          TEXT,
  line          INTEGER,
  inlined       INTEGER NOT NULL,    -- 1: inlined into the next call (no frame of its own)
  PRIMARY KEY (goroutine_id, depth)
) WITHOUT ROWID;
-- Goroutines with the same status, wait reason and functions on the stack.
CREATE TABLE goroutine_group (
  id            INTEGER PRIMARY KEY,
  status        TEXT NOT NULL,
  wait_reason   TEXT,
  count         INTEGER NOT NULL,
  function      TEXT,                -- what they run: the innermost frame outside the runtime and
                                     -- the standard library, else the start function (of its
                                     -- first goroutine, lowest goid)
  created_by    TEXT,                -- likewise
  stack         TEXT,                -- its frames' functions, innermost first, one per line
  stack_bytes   INTEGER NOT NULL,    -- the memory of their stacks (stack_hi - stack_lo)
  root_node_id  INTEGER REFERENCES root_node(id)  -- what the group alone retains
);

-- Go: allocation sites, from the memory profiler's records in the core (span
-- specials of the profile kind, each naming a bucket: an allocation stack).
-- runtime.MemProfileRate decides which objects have one (1: every object;
-- the default: one per 512 KiB allocated).
CREATE TABLE site (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL,       -- the first frame outside the runtime: "main.load (db.go:40)"
  stack   TEXT NOT NULL,       -- every frame, innermost first, one per line
  bucket  INTEGER,             -- the record's address (runtime.bucket, jemalloc's prof_gctx_t)
  size    INTEGER              -- the allocation size the bucket records
);
CREATE TABLE object_site (
  object_id  INTEGER PRIMARY KEY REFERENCES object(id),
  site_id    INTEGER NOT NULL REFERENCES site(id)
);
-- Each site's stack as frames, innermost first: the program counters the
-- profiler recorded (return addresses) and what they symbolize to.
CREATE TABLE site_frame (
  site_id    INTEGER NOT NULL REFERENCES site(id),
  depth      INTEGER NOT NULL,     -- 0: innermost (the allocator's own frames included)
  pc         INTEGER NOT NULL,     -- the return address recorded
  module_id  INTEGER REFERENCES module(id),
  function   TEXT,
  file       TEXT,
  line       INTEGER,
  inlined    INTEGER NOT NULL,     -- 1: a call inlined into the next row's function: the
                                   -- same machine frame (pprof: one location, several lines)
  PRIMARY KEY (site_id, depth)
) WITHOUT ROWID;

-- A heap profile paired with the core (analyze --profile FILE): one row.
CREATE TABLE profile (
  id          INTEGER PRIMARY KEY,
  path        TEXT NOT NULL,
  format      TEXT NOT NULL,       -- profile.proto | gperftools heap | jemalloc heap_v2
  period      INTEGER,             -- Go: MemProfileRate when it was written
  time_nanos  INTEGER,             -- when it was written (0: not said)
  build_id    TEXT,                -- its main mapping's build id (NULL: none given)
  paired      INTEGER NOT NULL,    -- 1: samples were matched to sites; 0: not (reason)
  reason      TEXT                 -- why not, or what was not checked
);
-- Its samples, each matched to the core's allocation record with the same
-- stack of program counters (site_id; NULL when the core has none).
CREATE TABLE profile_sample (
  id            INTEGER PRIMARY KEY,
  profile_id    INTEGER NOT NULL REFERENCES profile(id),
  site_id       INTEGER REFERENCES site(id),
  stack         TEXT NOT NULL,     -- the profile's frames (functions), innermost first, a line each
  inuse_objects INTEGER,           -- the profile's values (NULL when it has no such type)
  inuse_space   INTEGER,
  alloc_objects INTEGER,
  alloc_space   INTEGER,
  bytes         INTEGER            -- the label "bytes": Go's object size
);

-- Pointers between objects (left out with --no-refs).
CREATE TABLE ref (
  src        INTEGER NOT NULL REFERENCES object(id),
  src_offset INTEGER NOT NULL,
  dst        INTEGER NOT NULL REFERENCES object(id),
  dst_offset INTEGER NOT NULL,     -- 0: points at the start
  PRIMARY KEY (src, src_offset)
) WITHOUT ROWID;

-- @indexes
CREATE INDEX object_addr ON object(addr);
CREATE INDEX object_leak ON object(leak) WHERE leak IS NOT NULL;
CREATE INDEX ref_dst ON ref(dst);
CREATE INDEX root_ref_dst ON root_ref(dst);
CREATE INDEX object_idom ON object(idom);
-- No index on retained_bytes: `top` scans once (2 s for 10^7 objects); the
-- index would cost 16 s to build on every analysis.
CREATE INDEX frame_thread ON frame(thread_id, depth);
CREATE INDEX goroutine_group_goid ON goroutine(group_id, goid);
CREATE INDEX profile_sample_site ON profile_sample(site_id);
