/* wq_dataset: numeric tables read from CSV. Accepts the UCI wine format (';' separated,
 * quoted header) and plain comma CSV. Every rejected input names file, line and column. */
#ifndef WQ_DATASET_H
#define WQ_DATASET_H

#include "base/wq_error.h"

#include <stddef.h>

#define WQ_CSV_MAX_LINE  (64 * 1024)          /* bytes per line, excluding the newline */
#define WQ_CSV_MAX_COLS  256                  /* columns per file */
#define WQ_CSV_MAX_NAME  128                  /* bytes per column name */
#define WQ_CSV_MAX_BYTES (256u * 1024 * 1024) /* default file size limit */

typedef struct wq_dataset {
	size_t ncols;
	size_t nrows;
	char **names;   /* ncols column names, owned */
	double *values; /* nrows * ncols, row-major, owned; every value is finite */
} wq_dataset;

typedef struct wq_csv_opts {
	char delimiter;             /* 0: detect from the header (';' if present, else ',') */
	const char *const *allowed; /* NULL-terminated accepted column names; NULL: any name */
	size_t max_bytes;           /* 0: WQ_CSV_MAX_BYTES */
} wq_csv_opts;

/* The twelve UCI wine-quality column names, NULL-terminated. */
extern const char *const wq_uci_columns[];

/* Reads a whole CSV file. opts may be NULL (detect delimiter, any column names).
 * Rejects: empty file, header without data rows, ragged rows, empty/non-numeric/NaN/Inf
 * cells, duplicate or disallowed column names, oversize lines/files. err gets
 * "FILE:LINE:COL: what". On success *out is owned by the caller (wq_dataset_free). */
wq_status wq_dataset_read_csv(const char *path, const wq_csv_opts *opts, wq_dataset **out,
                              char *err, size_t errlen);

/* Same as wq_dataset_read_csv on an in-memory buffer; name is used in error messages. */
wq_status wq_dataset_parse_csv(const char *name, const char *buf, size_t len,
                               const wq_csv_opts *opts, wq_dataset **out, char *err, size_t errlen);

/* Writes the given rows (rows NULL: all nrows of ds) to a new file path (exclusive create:
 * WQ_EIO when it exists) as comma-separated CSV with a quoted header: numbers in the shortest
 * form that reads back exactly, '.' as decimal point whatever the locale. Column names must
 * not contain '"' or control characters. The file is fsync'ed. */
wq_status wq_dataset_write_csv(const wq_dataset *ds, const size_t *rows, size_t nrows,
                               const char *path, char *err, size_t errlen);

/* Frees a dataset; accepts NULL. */
void wq_dataset_free(wq_dataset *ds);

/* Finds a column by exact name: 0 and *idx, or WQ_ENOENT. */
wq_status wq_dataset_column_find(const wq_dataset *ds, const char *name, size_t *idx);

/* Copies the named columns of every row into a new row-major nrows * n matrix, owned by the
 * caller (free()). WQ_ENOENT with the missing name in err when a column is absent. */
wq_status wq_dataset_matrix_extract(const wq_dataset *ds, const char *const *names, size_t n,
                                    double **out, char *err, size_t errlen);

/* Copies the target column as integer labels (nrows values, caller frees). Values that are
 * not integers (or outside int range) are rejected with the row in err. */
wq_status wq_dataset_labels_extract(const wq_dataset *ds, const char *target, int **out, char *err,
                                    size_t errlen);

#endif
