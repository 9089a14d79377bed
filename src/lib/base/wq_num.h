/* wq_num: one text form per number, so that a value logged by different code paths (a trial
 * run, a retrained run, a bundle) has one spelling and a text filter such as
 * params.C = '7.058254312724959' finds every run with that value. */
#ifndef WQ_NUM_H
#define WQ_NUM_H

#include "base/wq_error.h"

#include <locale.h>
#include <stddef.h>

/* Longest text wq_num_format writes, with its NUL ("-1.2345678901234567e-308"). */
#define WQ_NUM_MAX 32

/* Writes the shortest decimal text that strtod reads back as exactly v: the first of %.1g ..
 * %.17g that round-trips, and an integer up to 2^53 without exponent or point ("42", "-3",
 * "1000000", never "1e+06"). Negative zero is "-0"; NaN and infinities are "nan", "inf" and
 * "-inf". Returns WQ_OK, or WQ_ERANGE when buf (len bytes) is too short (buf then holds "" when
 * len > 0). WQ_NUM_MAX bytes always suffice. */
wq_status wq_num_format(double v, char *buf, size_t len);

/* The "C" locale, created once per process (thread-safe): data files (CSV, libsvm models)
 * write and read numbers with '.' whatever locale the process runs in. Owned by the process:
 * never freed. (locale_t)0 when it cannot be created (out of memory). */
locale_t wq_num_c_locale(void);

#endif
