// shapes: polymorphic C++ objects, for typing from vtables.
//
// Usage: shapes MANIFEST_PATH
//
// 300 Circle, 200 Square and 100 Triangle objects (all derived from Shape,
// which has virtual functions), held by a global std::vector<Shape *>, plus
// 50 Circle leaked.  The manifest (corpus/README.md protocol) lists every
// object with its class.  Addresses are kept complemented (~p) in the
// program's own bookkeeping, so that it holds no extra pointer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

struct Shape {
	virtual ~Shape() {}
	virtual double area() const = 0;
	long id = 0;
};
struct Circle : Shape {
	double r = 1;
	double area() const override { return 3.14159 * r * r; }
};
struct Square : Shape {
	double side = 2;
	double area() const override { return side * side; }
};
struct Triangle : Shape {
	double b = 3, h = 4;
	long extra[2] = { 0, 0 };
	double area() const override { return b * h / 2; }
};

std::vector<Shape *> *g_shapes;

enum { N_CIRCLE = 300, N_SQUARE = 200, N_TRIANGLE = 100, N_LEAKED = 50 };
enum { N_ALL = N_CIRCLE + N_SQUARE + N_TRIANGLE + N_LEAKED };
static uintptr_t rec_addr[N_ALL];
static const char *rec_class[N_ALL];
static size_t rec_size[N_ALL];
static int rec_leaked[N_ALL];

__attribute__((noinline)) static void build()
{
	g_shapes = new std::vector<Shape *>();
	g_shapes->reserve(N_CIRCLE + N_SQUARE + N_TRIANGLE);
	int k = 0;
	for (int i = 0; i < N_ALL; i++, k++) {
		Shape *s;
		const char *cls;
		if (i < N_CIRCLE) {
			s = new Circle();
			cls = "Circle";
		} else if (i < N_CIRCLE + N_SQUARE) {
			s = new Square();
			cls = "Square";
		} else if (i < N_CIRCLE + N_SQUARE + N_TRIANGLE) {
			s = new Triangle();
			cls = "Triangle";
		} else {
			s = new Circle();      // leaked: never stored
			cls = "Circle";
			rec_leaked[k] = 1;
		}
		s->id = i;
		rec_addr[k] = ~(uintptr_t)s;
		rec_class[k] = cls;
		rec_size[k] = malloc_usable_size(s);
		if (!rec_leaked[k])
			g_shapes->push_back(s);
	}
}

__attribute__((noinline)) static void clear_stack()
{
	volatile char buf[65536];
	memset((char *)buf, 0, sizeof(buf));
}

static char manifest[1 << 17];

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: shapes MANIFEST_PATH\n");
		return 3;
	}
	build();
	clear_stack();
	size_t n = snprintf(manifest, sizeof(manifest),
			    "{\n  \"program\": \"shapes\",\n  \"pid\": %d,\n"
			    "  \"threads\": [{\"tid\": %d, \"main\": true, \"functions\": [\"main\"]}],\n"
			    "  \"objects\": [", (int)getpid(), (int)getpid());
	for (int i = 0; i < N_ALL && n < sizeof(manifest) - 200; i++)
		n += snprintf(manifest + n, sizeof(manifest) - n,
			      "%s\n    {\"addr\": \"0x%lx\", \"size\": %zu, \"class\": \"%s\", \"leaked\": %s}",
			      i ? "," : "", (unsigned long)~rec_addr[i], rec_size[i], rec_class[i],
			      rec_leaked[i] ? "true" : "false");
	n += snprintf(manifest + n, sizeof(manifest) - n, "\n  ]\n}\n");
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, manifest, n) != (ssize_t)n || close(fd) < 0 ||
	    rename(tmp, argv[1]) < 0)
		return 3;
	clear_stack();
	for (;;)
		pause();
}
