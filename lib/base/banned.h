#ifndef RC_BANNED_H
#define RC_BANNED_H
/*
 * Functions that are too easy to misuse. Included last by every .c file,
 * so that a call to one of them does not compile (git's banned.h).
 * Use rc_buf, snprintf, strtok_r and the checked number parsers instead.
 */
#define RC_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) RC_BANNED(strcpy)
#undef strcat
#define strcat(x, y) RC_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) RC_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) RC_BANNED(strncat)
#undef sprintf
#define sprintf(...) RC_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) RC_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) RC_BANNED(strtok)
#undef atoi
#define atoi(x) RC_BANNED(atoi)
#undef atol
#define atol(x) RC_BANNED(atol)
#undef gets
#define gets(x) RC_BANNED(gets)

#endif
