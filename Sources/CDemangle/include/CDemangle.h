/* Demanglers already present in every Swift process on Linux: the C++ ABI's
 * (libstdc++) and the Swift runtime's. Declared here because <cxxabi.h> is C++
 * and the Swift runtime ships no C header for it. */
#ifndef CDEMANGLE_H
#define CDEMANGLE_H

#include <stddef.h>
#include <stdint.h>

/* Itanium C++ ABI demangler (libstdc++). Returns a malloc'd string or NULL. */
char *__cxa_demangle(const char *mangled_name, char *output_buffer, size_t *length, int *status);

/* Swift runtime demangler (libswiftCore). Returns a malloc'd string or NULL. */
char *swift_demangle(const char *mangled_name, size_t mangled_name_length, char *output_buffer,
		     size_t *output_buffer_size, uint32_t flags);

#endif
