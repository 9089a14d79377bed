#include "base/wq_num.h"

#include "base/wq_error.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
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

/* The correctly rounded 17 significant digits of v (normal, nonzero) as "%.16e" gives them:
 * digits[17] (no point) and the decimal exponent. */
static void digits17(double v, char digits[17], int *exp10)
{
	char tmp[WQ_NUM_MAX + 8];
	const char *p = tmp;
	size_t n = 0;

	snprintf(tmp, sizeof(tmp), "%.16e", fabs(v));
	for (; *p != 'e'; p++) {
		if (*p != '.')
			digits[n++] = *p;
	}
	*exp10 = (int)strtol(p + 1, NULL, 10);
}

/* Rounds the 17 digits to prec (15 or 16) digits as %.{prec}g would round v itself: false when
 * that cannot be told from 17 digits (the dropped digits are exactly half a unit: v may lie
 * on either side of the half). out gets prec digits, *exp10 the exponent after a carry. */
static bool digits_round(const char digits[17], int prec, char *out, int *exp10)
{
	bool up;

	if (prec == 16)
		up = digits[16] > '5';
	else
		up = digits[15] > '5' || (digits[15] == '5' && digits[16] != '0');
	if ((prec == 16 && digits[16] == '5') ||
	    (prec == 15 && digits[15] == '5' && digits[16] == '0'))
		return false;
	memcpy(out, digits, (size_t)prec);
	for (int i = prec - 1; up && i >= 0; i--) {
		up = out[i] == '9';
		out[i] = up ? '0' : (char)(out[i] + 1);
	}
	if (up) { /* 99...9 became 00...0: one more leading digit */
		memmove(out + 1, out, (size_t)prec - 1);
		out[0] = '1';
		(*exp10)++;
	}
	return true;
}

/* Writes prec digits with exponent exp10 as %.{prec}g does (out: at least 40 bytes): trailing zeros
 * dropped, fixed notation for -4 <= exp10 < prec, else d.ddde+XX. */
static void digits_write(bool neg, const char *digits, int prec, int exp10, char *out)
{
	int n = prec, k = 0;

	while (n > 1 && digits[n - 1] == '0')
		n--;
	if (neg)
		out[k++] = '-';
	if (exp10 < -4 || exp10 >= prec) {
		out[k++] = digits[0];
		if (n > 1) {
			out[k++] = '.';
			memcpy(out + k, digits + 1, (size_t)n - 1);
			k += n - 1;
		}
		snprintf(out + k, 16, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
		return;
	}
	if (exp10 < 0) {
		out[k++] = '0';
		out[k++] = '.';
		for (int i = -1; i > exp10; i--)
			out[k++] = '0';
		memcpy(out + k, digits, (size_t)n);
		k += n;
	} else {
		for (int i = 0; i <= exp10; i++)
			out[k++] = i < n ? digits[i] : '0';
		if (n > exp10 + 1) {
			out[k++] = '.';
			memcpy(out + k, digits + exp10 + 1, (size_t)(n - exp10 - 1));
			k += n - exp10 - 1;
		}
	}
	out[k] = '\0';
}

wq_status wq_num_format(double v, char *buf, size_t len)
{
	char tmp[WQ_NUM_MAX + 8], d17[17], dp[17];
	int e17;

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
	if (!isnormal(v)) { /* subnormals have fewer digits: the first %g that round-trips */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
		return put(tmp, buf, len);
	}
	/* A normal value whose shortest exact form has 15 digits or fewer prints as that form at
	 * %.15g already (%g drops trailing zeros, and the double is within half a unit of the
	 * 15th digit of it), so only 15, 16 and 17 digits are tried. They are rounded from one
	 * conversion to 17 digits instead of one snprintf each (printf's exact conversion is most
	 * of the cost), except where 17 digits cannot tell which way the rounding goes. */
	digits17(v, d17, &e17);
	for (int prec = 15; prec <= 16; prec++) {
		int e = e17;

		if (digits_round(d17, prec, dp, &e))
			digits_write(v < 0, dp, prec, e, tmp);
		else
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			return put(tmp, buf, len);
	}
	digits_write(v < 0, d17, 17, e17, tmp);
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
