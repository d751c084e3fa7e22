// C++ objects for gomanycgo (see main.go): four classes with vtables, one of
// them a class template's instantiation, held by a global vector.
#include <vector>

#include "cxx.h"

namespace {
struct Shape {
	virtual ~Shape() {}
	virtual double area() const = 0;
};
struct Circle : Shape {
	double r;
	explicit Circle(double r) : r(r) {}
	double area() const override { return 3 * r * r; }
};
struct Square : Shape {
	double s;
	explicit Square(double s) : s(s) {}
	double area() const override { return s * s; }
};
template <typename T> struct Box : Shape {
	T v[3];
	explicit Box(T x) : v{x, x, x} {}
	double area() const override { return double(v[0]); }
};
struct Labeled : Square {
	const char *label;
	explicit Labeled(double s) : Square(s), label("l") {}
	double area() const override { return 2 * s; }
};
std::vector<Shape *> shapes;
size_t counts[4];
const char *const names[4] = {"(anonymous namespace)::Circle", "(anonymous namespace)::Square",
			      "(anonymous namespace)::Box<long>", "(anonymous namespace)::Labeled"};
} // namespace

extern "C" void cxx_build(size_t n)
{
	shapes.reserve(n);
	for (size_t i = 0; i < n; i++) {
		int k = int(i % 4);
		Shape *s = k == 0 ? static_cast<Shape *>(new Circle(double(i))) :
			   k == 1 ? static_cast<Shape *>(new Square(double(i))) :
			   k == 2 ? static_cast<Shape *>(new Box<long>(long(i))) :
				    static_cast<Shape *>(new Labeled(double(i)));
		shapes.push_back(s);
		counts[k]++;
	}
}

extern "C" size_t cxx_count(int i) { return counts[i]; }
extern "C" const char *cxx_class(int i) { return names[i]; }
