// The C++ side of gomanycgo: objects with vtables in the C heap.
#ifndef GOMANYCGO_CXX_H
#define GOMANYCGO_CXX_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
// Allocates n C++ objects of four classes (operator new: glibc malloc), held
// by a global std::vector; returns how many of class i (0..3) there are.
void cxx_build(size_t n);
size_t cxx_count(int i);
const char *cxx_class(int i);
#ifdef __cplusplus
}
#endif
#endif
