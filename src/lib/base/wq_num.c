#include "base/wq_num.h"

#include "base/wq_error.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every integer up to 2^53 is exact in a double, so "%.0f" of it is exact and short. */
#define EXACT_INT_MAX 9007199254740992.0

static wq_status put(const char *text, char *buf, size_t len)
{
	size_t n = strlen(text);

	if (buf == NULL || n >= len) {
		if (buf != NULL && len > 0)
			buf[0] = '\0';
		return WQ_ERANGE;
	}
	memcpy(buf, text, n + 1);
	return WQ_OK;
}

wq_status wq_num_format(double v, char *buf, size_t len)
{
	char tmp[WQ_NUM_MAX + 8];

	if (isnan(v))
		return put("nan", buf, len);
	if (isinf(v))
		return put(v < 0 ? "-inf" : "inf", buf, len);
	if (v == 0.0)
		return put(signbit(v) ? "-0" : "0", buf, len);
	if (v == floor(v) && fabs(v) <= EXACT_INT_MAX) {
		snprintf(tmp, sizeof(tmp), "%.0f", v);
		return put(tmp, buf, len);
	}
	/* a normal value whose shortest exact form has 15 digits or fewer prints as that form at
	 * 15 already (%g drops trailing zeros, and the double is within half a unit of the 15th
	 * digit of it), so only 15, 16 and 17 need trying; subnormals have fewer digits */
	for (int prec = isnormal(v) ? 15 : 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return put(tmp, buf, len);
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t wq_num_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale;
}
