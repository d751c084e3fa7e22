/* libphantom.c - libphantom.so: an ELF shared object that corpus/phantom.c maps
 * (its first page, read-only) without ever loading it.
 *
 * What matters is its program headers: a 32 MiB .bss makes its last PT_LOAD's
 * p_memsz large, so a reader that takes every ELF header it finds in memory for
 * a loaded module sees a "module" spanning 32 MiB from wherever the one page is
 * mapped.  Nothing links against it.
 */
char libphantom_space[32 << 20];

int libphantom_touch(int i)
{
	return libphantom_space[i];
}
