#ifndef RC_COMPAT_H
#define RC_COMPAT_H
/*
 * Feature macros, included first by every .c file of the project.
 *
 * With plain -std=c11 the POSIX and GNU declarations (strdup, fdopen,
 * pipe2, memmem, ...) are hidden, and a call to an undeclared function
 * returning a pointer silently truncates it; one place asks for them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define RC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RC_UNUSED __attribute__((unused))
#else
#define RC_PRINTF(f, a)
#define RC_UNUSED
#endif

/* A function that never returns (die, usage, abort on out of memory). */
#define RC_NORETURN _Noreturn

#define RC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
