#include "ml/wq_bundle.h"

#include "base/wq_file.h"

#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "base/wq_log.h"
#include "base/wq_strv.h"
#include "ml/wq_features.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL_TYPE  "libsvm-c-svc"
#define SCALER_TYPE "standard"
/* Rows of up to this many features are scaled on the stack. */
#define STACK_FEATURES 64
#define READ_CHUNK     (64 * 1024)

/* ---- small helpers ------------------------------------------------------------------------ */

static wq_status join_path(char *buf, size_t n, const char *dir, const char *name, char *err,
                           size_t errlen)
{
	int len = snprintf(buf, n, "%s/%s", dir, name);

	if (len < 0 || (size_t)len >= n)
		return wq_err_set(err, errlen, WQ_ERANGE, "path too long: %s/%s", dir, name);
	return WQ_OK;
}

/* A bundle's files live directly in its directory: anything that could reach outside it is
 * refused. */
static bool plain_file_name(const char *name)
{
	if (name == NULL || name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	if (strlen(name) > NAME_MAX)
		return false;
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '/' || *c == '\\' || (unsigned char)*c < 0x20)
			return false;
	}
	return true;
}

/* Column names are written quoted in reference.csv; a quote or control character would need an
 * escape convention every CSV reader agrees on, and no wine column has one. */
static bool safe_column_name(const char *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > WQ_CSV_MAX_NAME)
		return false;
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '"' || (unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	}
	return true;
}

static bool is_sha256_hex(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == WQ_SHA256_HEXLEN - 1;
}

/* SHA-256 of a regular file of at most max bytes, and its number of '\n'. */
static wq_status file_digest(const char *path, long long max, char hex[WQ_SHA256_HEXLEN],
                             size_t *lines, char *err, size_t errlen)
{
	unsigned char *chunk = NULL;
	uint8_t digest[WQ_SHA256_LEN];
	wq_sha256 c;
	struct stat st;
	size_t nl = 0;
	ssize_t got;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		return wq_err_set(err, errlen, e == ENOENT ? WQ_ENOENT : WQ_EIO, "%s: %s", path,
		                  strerror(e));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: not a regular file", path);
		goto fail;
	}
	if ((long long)st.st_size > max) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: %lld bytes exceeds the limit of %lld",
		                path, (long long)st.st_size, max);
		goto fail;
	}
	chunk = malloc(READ_CHUNK);
	if (chunk == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	wq_sha256_init(&c);
	while ((got = read(fd, chunk, READ_CHUNK)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = wq_err_set(err, errlen, WQ_EIO, "cannot read %s: %s", path,
			                strerror(errno));
			goto fail;
		}
		wq_sha256_update(&c, chunk, (size_t)got);
		for (ssize_t i = 0; i < got; i++)
			nl += chunk[i] == '\n';
	}
	wq_sha256_final(&c, digest);
	wq_sha256_hex(digest, hex);
	if (lines != NULL)
		*lines = nl;
	free(chunk);
	close(fd);
	return WQ_OK;
fail:
	free(chunk);
	close(fd);
	return rc;
}

static wq_status fsync_path(const char *path, int directory, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
	wq_status rc = WQ_OK;

	if (fd < 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot open %s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot sync %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* ---- freeing ------------------------------------------------------------------------------ */

void wq_bundle_free(wq_bundle *b)
{
	if (b == NULL)
		return;
	free(b->name);
	free(b->created);
	free(b->wineq_version);
	free(b->target);
	wq_strv_free(b->features, b->nfeatures);
	wq_scaler_free(b->scaler);
	wq_svm_free(b->svm);
	free(b->training.data_file);
	wq_metrics_free(b->test_metrics);
	wq_dataset_free(b->reference);
	wq_bundle_refpred_free(b->reference_predictions);
	free(b);
}

void wq_bundle_refpred_free(wq_bundle_refpred *rp)
{
	if (rp == NULL)
		return;
	free(rp->labels);
	free(rp->probs);
	free(rp);
}

/* reference_predictions.csv's columns: "prediction", then "p_<class>" per class. */
static void refpred_column_name(const wq_bundle *b, size_t j, char *buf, size_t n)
{
	if (j == 0)
		snprintf(buf, n, "prediction");
	else
		snprintf(buf, n, "p_%d", wq_svm_classes(b->svm)[j - 1]);
}

static size_t refpred_columns(const wq_bundle *b)
{
	return 1 + (wq_svm_has_probability(b->svm) ? wq_svm_class_count(b->svm) : 0);
}

/* ---- saving ------------------------------------------------------------------------------- */

/* What load will insist on, checked before anything is written. */
static wq_status check_for_save(const wq_bundle *b, char *err, size_t errlen)
{
	const wq_bundle_refpred *rp;
	const wq_dataset *ref;
	size_t nf;

	if (b == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no bundle");
	nf = b->nfeatures;
	if (b->name == NULL || b->created == NULL || b->wineq_version == NULL ||
	    b->training.data_file == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "bundle lacks name, creation time, version or data file");
	if (b->svm == NULL || b->scaler == NULL || b->features == NULL || nf < 1)
		return wq_err_set(err, errlen, WQ_EINVAL, "bundle lacks model, scaler or features");
	if (b->reference == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "bundle lacks its reference data");
	if (!safe_column_name(b->target))
		return wq_err_set(err, errlen, WQ_EINVAL, "bad target column name");
	for (size_t i = 0; i < nf; i++) {
		if (!safe_column_name(b->features[i]))
			return wq_err_set(err, errlen, WQ_EINVAL, "bad feature name #%zu", i + 1);
		if (strcmp(b->features[i], b->target) == 0)
			return wq_err_set(err, errlen, WQ_EINVAL, "feature '%s' is the target",
			                  b->features[i]);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(b->features[i], b->features[j]) == 0)
				return wq_err_set(err, errlen, WQ_EINVAL, "duplicate feature '%s'",
				                  b->features[i]);
		}
	}
	if (b->scaler->d != nf || wq_svm_feature_count(b->svm) != nf)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "scaler (%zu) and model (%zu) disagree with %zu features",
		                  b->scaler->d, wq_svm_feature_count(b->svm), nf);
	if (!is_sha256_hex(b->training.data_sha256))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "training data SHA-256 is not 64 hex digits");
	ref = b->reference;
	if (ref->ncols != nf + 1 || ref->nrows < 1)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "reference data must have the %zu features and the target", nf);
	for (size_t i = 0; i <= nf; i++) {
		const char *want = i < nf ? b->features[i] : b->target;

		if (strcmp(ref->names[i], want) != 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "reference column %zu is '%s', expected '%s'", i + 1,
			                  ref->names[i], want);
	}
	if (b->decision != WQ_DECISION_VOTE && b->decision != WQ_DECISION_ARGMAX &&
	    b->decision != WQ_DECISION_PRIOR_SHIFT)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown decision rule %d", b->decision);
	if (b->decision != WQ_DECISION_VOTE && !wq_svm_has_probability(b->svm))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "decision rule %s needs a model with probabilities",
		                  wq_svm_decision_name(b->decision));
	rp = b->reference_predictions;
	if (rp != NULL && (rp->labels == NULL || rp->nrows != ref->nrows ||
	                   rp->nclass != wq_svm_class_count(b->svm) ||
	                   (rp->probs != NULL) != (wq_svm_has_probability(b->svm) != 0)))
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "reference predictions do not match the reference data and model");
	return WQ_OK;
}

static wq_status write_text_file(const char *path, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "wx");

	if (f == NULL)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", path,
		                  strerror(errno));
	return wq_file_close_synced(f, path, fputs(text, f) == EOF, err, errlen);
}

/* Object building: jansson's *_new functions steal the value and cope with NULL, so a failed
 * allocation anywhere surfaces as a -1 here. */
static int jset(json_t *obj, const char *key, json_t *value)
{
	return json_object_set_new(obj, key, value);
}

static json_t *json_reals(const double *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_real(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *json_ints(const int *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_integer(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *json_strings(char *const *v, size_t n, const char *extra)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	if (a != NULL && extra != NULL && json_array_append_new(a, json_string(extra)) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* A seed above JSON's safe integer range would be mangled by many JSON readers: those are
 * written as decimal strings. */
static json_t *json_seed(uint64_t seed)
{
	char buf[32];

	if (seed <= (UINT64_C(1) << 53))
		return json_integer((json_int_t)seed);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)seed);
	return json_string(buf);
}

static json_t *json_metrics(const wq_metrics *m)
{
	json_t *o = json_object(), *cm = json_array();
	int bad = o == NULL || cm == NULL;

	for (size_t i = 0; !bad && i < m->nclass; i++) {
		json_t *row = json_array();

		for (size_t j = 0; row != NULL && j < m->nclass; j++) {
			if (json_array_append_new(
			        row, json_integer((json_int_t)m->confusion[i * m->nclass + j])))
				bad = 1;
		}
		if (json_array_append_new(cm, row) != 0)
			bad = 1;
	}
	if (!bad) {
		bad |= jset(o, "n", json_integer((json_int_t)m->n));
		bad |= jset(o, "accuracy", json_real(m->accuracy));
		bad |= jset(o, "balanced_accuracy", json_real(m->balanced_accuracy));
		bad |= jset(o, "f1_macro", json_real(m->f1_macro));
		bad |= jset(o, "labels", json_ints(m->labels, m->nclass));
		bad |= jset(o, "confusion_matrix", cm);
		cm = NULL;
	}
	json_decref(cm);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *refpred_columns_json(const wq_bundle *b)
{
	json_t *a = json_array();
	char name[32];

	for (size_t j = 0; a != NULL && j < refpred_columns(b); j++) {
		refpred_column_name(b, j, name, sizeof(name));
		if (json_array_append_new(a, json_string(name)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *build_manifest(const wq_bundle *b, const char *model_hex, const char *ref_hex,
                              const char *refpred_hex)
{
	json_t *root = json_object(), *model = json_object(), *scaler = json_object();
	json_t *training = json_object(), *metrics = json_object(), *reference = json_object();
	json_t *files = json_object(), *refpred = json_object();
	wq_svm_params p;
	int bad;

	wq_svm_params_get(b->svm, &p);
	bad = root == NULL || model == NULL || scaler == NULL || training == NULL ||
	      metrics == NULL || reference == NULL || files == NULL || refpred == NULL;
	if (!bad) {
		bad |= jset(model, "type", json_string(MODEL_TYPE));
		bad |= jset(model, "file", json_string(WQ_BUNDLE_MODEL_FILE));
		bad |= jset(model, "kernel", json_string(wq_svm_kernel_name(p.kernel)));
		bad |= jset(model, "C", json_real(p.C));
		bad |= jset(model, "gamma", json_real(p.gamma));
		bad |= jset(model, "probability", json_boolean(wq_svm_has_probability(b->svm)));
		bad |= jset(model, "class_weight",
		            json_string(wq_svm_class_weight_name(p.class_weight)));
		bad |= jset(model, "support_vectors",
		            json_integer((json_int_t)wq_svm_sv_count(b->svm)));
		bad |= jset(model, "class_weights",
		            json_reals(wq_svm_class_weights(b->svm), wq_svm_class_count(b->svm)));

		bad |= jset(scaler, "type", json_string(SCALER_TYPE));
		bad |= jset(scaler, "mean", json_reals(b->scaler->mean, b->scaler->d));
		bad |= jset(scaler, "scale", json_reals(b->scaler->scale, b->scaler->d));

		bad |= jset(training, "data_file", json_string(b->training.data_file));
		bad |= jset(training, "data_sha256", json_string(b->training.data_sha256));
		bad |= jset(training, "data_rows", json_integer((json_int_t)b->training.data_rows));
		bad |=
		    jset(training, "train_rows", json_integer((json_int_t)b->training.train_rows));
		bad |= jset(training, "test_rows", json_integer((json_int_t)b->training.test_rows));
		bad |= jset(training, "seed", json_seed(b->training.seed));
		bad |= jset(training, "test_fraction", json_real(b->training.test_fraction));
		bad |= jset(training, "stratify", json_boolean(b->training.stratify));

		if (b->test_metrics != NULL)
			bad |= jset(metrics, "test", json_metrics(b->test_metrics));

		bad |= jset(reference, "file", json_string(WQ_BUNDLE_REFERENCE_FILE));
		bad |= jset(reference, "rows", json_integer((json_int_t)b->reference->nrows));
		bad |= jset(reference, "columns",
		            json_strings(b->reference->names, b->reference->ncols, NULL));

		bad |= jset(refpred, "file", json_string(WQ_BUNDLE_REFPRED_FILE));
		bad |= jset(refpred, "rows", json_integer((json_int_t)b->reference->nrows));
		bad |= jset(refpred, "columns", refpred_columns_json(b));

		bad |= jset(files, WQ_BUNDLE_MODEL_FILE, json_string(model_hex));
		bad |= jset(files, WQ_BUNDLE_REFERENCE_FILE, json_string(ref_hex));
		bad |= jset(files, WQ_BUNDLE_REFPRED_FILE, json_string(refpred_hex));

		bad |= jset(root, "format", json_string(WQ_BUNDLE_FORMAT));
		bad |= jset(root, "format_version", json_integer(WQ_BUNDLE_FORMAT_VERSION));
		bad |= jset(root, "wineq_version", json_string(b->wineq_version));
		bad |= jset(root, "created", json_string(b->created));
		bad |= jset(root, "name", json_string(b->name));
		bad |= jset(root, "model", model);
		bad |= jset(root, "decision", json_string(wq_svm_decision_name(b->decision)));
		bad |= jset(root, "features", json_strings(b->features, b->nfeatures, NULL));
		bad |= jset(root, "target", json_string(b->target));
		bad |= jset(root, "classes",
		            json_ints(wq_svm_classes(b->svm), wq_svm_class_count(b->svm)));
		bad |= jset(root, "scaler", scaler);
		bad |= jset(root, "training", training);
		bad |= jset(root, "metrics", metrics);
		bad |= jset(root, "reference", reference);
		bad |= jset(root, "reference_predictions", refpred);
		bad |= jset(root, "files", files);
		if (!bad)
			return root;
		/* everything was handed to root by now */
		json_decref(root);
		return NULL;
	}
	json_decref(root);
	json_decref(model);
	json_decref(scaler);
	json_decref(training);
	json_decref(metrics);
	json_decref(reference);
	json_decref(files);
	json_decref(refpred);
	return NULL;
}

/* Only an empty directory or an existing bundle may be replaced: overwrite must never wipe an
 * unrelated directory someone pointed us at by mistake. */
static wq_status replaceable(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	wq_status rc = join_path(path, sizeof(path), dir, WQ_BUNDLE_MANIFEST, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		return WQ_OK;
	if (rmdir(dir) == 0) {
		/* it was empty; the bundle takes its place */
		return WQ_OK;
	}
	return wq_err_set(err, errlen, WQ_EEXIST,
	                  "%s exists and is not a wineq bundle; refusing to replace it", dir);
}

static void parent_dir(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, n, ".");
	else if (slash == path)
		snprintf(out, n, "/");
	else
		snprintf(out, n, "%.*s", (int)(slash - path), path);
}

/* Moves the finished temporary bundle to dir. With an existing bundle the two are swapped in
 * one step where the file system allows it, so dir is never missing. */
static wq_status install(const char *tmp, const char *dir, int replace, char *err, size_t errlen)
{
	char old[PATH_MAX];

	if (!replace) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) == 0)
			return WQ_OK;
		if (errno == EEXIST || errno == ENOTEMPTY)
			return wq_err_set(err, errlen, WQ_EEXIST, "%s already exists", dir);
		if (errno != EINVAL && errno != ENOSYS)
			return wq_err_set(err, errlen, WQ_EIO, "cannot rename %s to %s: %s", tmp,
			                  dir, strerror(errno));
		/* no RENAME_NOREPLACE here: a plain rename still refuses a non-empty dir */
		if (rename(tmp, dir) != 0)
			return wq_err_set(err, errlen, errno == ENOTEMPTY ? WQ_EEXIST : WQ_EIO,
			                  "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
		return WQ_OK;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
		/* tmp now holds the old bundle */
		if (wq_file_rmtree(tmp, NULL, 0) != WQ_OK)
			wq_log(WQ_LOG_WARN, "could not remove the replaced bundle %s", tmp);
		return WQ_OK;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return wq_err_set(err, errlen, WQ_EIO, "cannot replace %s: %s", dir,
		                  strerror(errno));
	if (snprintf(old, sizeof(old), "%s.old-XXXXXX", dir) >= (int)sizeof(old))
		return wq_err_set(err, errlen, WQ_ERANGE, "path too long: %s", dir);
	if (mkdtemp(old) == NULL || rename(dir, old) != 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot move %s aside: %s", dir,
		                  strerror(errno));
	if (rename(tmp, dir) != 0) {
		int e = errno;

		if (rename(old, dir) != 0)
			wq_log(WQ_LOG_ERROR, "the previous bundle %s is left at %s", dir, old);
		return wq_err_set(err, errlen, WQ_EIO, "cannot rename %s to %s: %s", tmp, dir,
		                  strerror(e));
	}
	if (wq_file_rmtree(old, NULL, 0) != WQ_OK)
		wq_log(WQ_LOG_WARN, "could not remove the replaced bundle %s", old);
	return WQ_OK;
}

/* reference_predictions.csv through the dataset writer: numbers in the shortest form that
 * reads back exactly, so a loaded bundle holds the very probabilities computed. */
static wq_status write_refpred(const wq_bundle *b, const wq_bundle_refpred *rp, const char *path,
                               char *err, size_t errlen)
{
	wq_dataset ds;
	size_t nc = refpred_columns(b), k = rp->nclass;
	char names[WQ_SVM_MAX_CLASSES + 1][32];
	char *ptrs[WQ_SVM_MAX_CLASSES + 1];
	wq_status rc;

	memset(&ds, 0, sizeof(ds));
	ds.values = malloc(rp->nrows * nc * sizeof(double));
	if (ds.values == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	for (size_t j = 0; j < nc; j++) {
		refpred_column_name(b, j, names[j], sizeof(names[j]));
		ptrs[j] = names[j];
	}
	for (size_t i = 0; i < rp->nrows; i++) {
		ds.values[i * nc] = rp->labels[i];
		for (size_t j = 1; j < nc; j++)
			ds.values[i * nc + j] = rp->probs[i * k + j - 1];
	}
	ds.names = ptrs;
	ds.ncols = nc;
	ds.nrows = rp->nrows;
	rc = wq_dataset_write_csv(&ds, NULL, 0, path, err, errlen);
	free(ds.values);
	return rc;
}

static wq_status write_bundle_files(const wq_bundle *b, const char *tmp, char *err, size_t errlen)
{
	char path[PATH_MAX], model_hex[WQ_SHA256_HEXLEN], ref_hex[WQ_SHA256_HEXLEN];
	char refpred_hex[WQ_SHA256_HEXLEN];
	wq_bundle_refpred *computed = NULL;
	const wq_bundle_refpred *rp = b->reference_predictions;
	json_t *manifest = NULL;
	wq_buf text = WQ_BUF_INIT;
	wq_status rc;

	rc = join_path(path, sizeof(path), tmp, WQ_BUNDLE_MODEL_FILE, err, errlen);
	if (rc == WQ_OK)
		rc = wq_svm_save(b->svm, path, err, errlen);
	if (rc == WQ_OK)
		rc = fsync_path(path, 0, err, errlen);
	if (rc == WQ_OK)
		rc = file_digest(path, WQ_BUNDLE_MAX_MODEL, model_hex, NULL, err, errlen);
	if (rc == WQ_OK)
		rc = join_path(path, sizeof(path), tmp, WQ_BUNDLE_REFERENCE_FILE, err, errlen);
	if (rc == WQ_OK)
		rc = wq_dataset_write_csv(b->reference, NULL, 0, path, err, errlen);
	if (rc == WQ_OK)
		rc = file_digest(path, LLONG_MAX, ref_hex, NULL, err, errlen);
	if (rc == WQ_OK && rp == NULL) {
		rc = wq_bundle_refpred_compute(b, &computed, err, errlen);
		rp = computed;
	}
	if (rc == WQ_OK)
		rc = join_path(path, sizeof(path), tmp, WQ_BUNDLE_REFPRED_FILE, err, errlen);
	if (rc == WQ_OK)
		rc = write_refpred(b, rp, path, err, errlen);
	if (rc == WQ_OK)
		rc = file_digest(path, LLONG_MAX, refpred_hex, NULL, err, errlen);
	wq_bundle_refpred_free(computed);
	if (rc != WQ_OK)
		return rc;

	manifest = build_manifest(b, model_hex, ref_hex, refpred_hex);
	/* every real in its shortest round-trip text; the file ends with a newline */
	rc = manifest != NULL ? wq_jsonout_dump(manifest, 2, 0, &text) : WQ_ENOMEM;
	json_decref(manifest);
	wq_buf_putc(&text, '\n');
	if (rc == WQ_OK)
		rc = wq_buf_status(&text);
	if (rc != WQ_OK) {
		wq_buf_free(&text);
		return wq_err_set(err, errlen, rc, "cannot write the manifest: %s",
		                  wq_strerror(rc));
	}
	rc = join_path(path, sizeof(path), tmp, WQ_BUNDLE_MANIFEST, err, errlen);
	if (rc == WQ_OK && text.len > WQ_BUNDLE_MAX_MANIFEST)
		rc = wq_err_set(err, errlen, WQ_ERANGE, "manifest exceeds %d bytes",
		                WQ_BUNDLE_MAX_MANIFEST);
	if (rc == WQ_OK)
		rc = write_text_file(path, text.data, err, errlen);
	wq_buf_free(&text);
	if (rc == WQ_OK)
		rc = fsync_path(tmp, 1, err, errlen);
	return rc;
}

wq_status wq_bundle_save(const wq_bundle *b, const char *dir, int overwrite, char *err,
                         size_t errlen)
{
	char target[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX];
	struct stat st;
	size_t len;
	int rc, exists;

	rc = check_for_save(b, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (dir == NULL || dir[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no bundle directory given");
	len = strlen(dir);
	if (len >= sizeof(target))
		return wq_err_set(err, errlen, WQ_ERANGE, "path too long: %s", dir);
	/* "out/" names the directory out, and its temporary sibling must not land inside it */
	memcpy(target, dir, len + 1);
	while (len > 1 && target[len - 1] == '/')
		target[--len] = '\0';

	exists = lstat(target, &st) == 0;
	if (exists && !overwrite)
		return wq_err_set(err, errlen, WQ_EEXIST, "%s already exists", target);
	if (exists && !S_ISDIR(st.st_mode))
		return wq_err_set(err, errlen, WQ_EEXIST,
		                  "%s exists and is not a directory; refusing to replace it",
		                  target);
	if (exists) {
		rc = replaceable(target, err, errlen);
		if (rc != WQ_OK)
			return rc;
		exists = lstat(target, &st) == 0;
	}

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", target) >= (int)sizeof(tmp))
		return wq_err_set(err, errlen, WQ_ERANGE, "path too long: %s", target);
	if (mkdtemp(tmp) == NULL) {
		int e = errno;

		return wq_err_set(err, errlen, e == ENOENT ? WQ_ENOENT : WQ_EIO,
		                  "cannot create a directory next to %s: %s", target, strerror(e));
	}
	/* mkdtemp's 0700 would hide the bundle from a server running as another user */
	chmod(tmp, 0755);
	rc = write_bundle_files(b, tmp, err, errlen);
	if (rc == WQ_OK)
		rc = install(tmp, target, exists, err, errlen);
	if (rc != WQ_OK) {
		wq_file_rmtree(tmp, NULL, 0);
		return rc;
	}
	parent_dir(target, parent, sizeof(parent));
	rc = fsync_path(parent, 1, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_log(WQ_LOG_INFO, "saved bundle %s", target);
	return WQ_OK;
}

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct mctx {
	const char *file; /* manifest path, for messages */
	char *err;
	size_t errlen;
} mctx;

static const char *type_word(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	default:
		return "a boolean";
	}
}

/* A field of the wanted type; JSON_REAL accepts any number, JSON_TRUE any boolean. */
static wq_status get_field(mctx *c, const json_t *obj, const char *parent, const char *key,
                           json_type type, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	int ok;

	if (v == NULL)
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: field '%s%s%s' is missing",
		                  c->file, parent != NULL ? parent : "", parent != NULL ? "." : "",
		                  key);
	switch (type) {
	case JSON_REAL:
		ok = json_is_number(v);
		break;
	case JSON_TRUE:
		ok = json_is_boolean(v);
		break;
	default:
		ok = json_typeof(v) == type;
	}
	if (!ok)
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: field '%s%s%s' must be %s",
		                  c->file, parent != NULL ? parent : "", parent != NULL ? "." : "",
		                  key, type_word(type));
	*out = v;
	return WQ_OK;
}

static wq_status get_string(mctx *c, const json_t *obj, const char *parent, const char *key,
                            const char **out)
{
	json_t *v;
	wq_status rc = get_field(c, obj, parent, key, JSON_STRING, &v);

	if (rc == WQ_OK)
		*out = json_string_value(v);
	return rc;
}

static wq_status get_count(mctx *c, const json_t *obj, const char *parent, const char *key,
                           size_t *out)
{
	json_t *v;
	wq_status rc = get_field(c, obj, parent, key, JSON_INTEGER, &v);

	if (rc != WQ_OK)
		return rc;
	if (json_integer_value(v) < 0)
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: field '%s.%s' is negative",
		                  c->file, parent, key);
	*out = (size_t)json_integer_value(v);
	return WQ_OK;
}

static wq_status get_real(mctx *c, const json_t *obj, const char *parent, const char *key,
                          double *out)
{
	json_t *v;
	wq_status rc = get_field(c, obj, parent, key, JSON_REAL, &v);

	if (rc == WQ_OK)
		*out = json_number_value(v);
	return rc;
}

static wq_status get_bool(mctx *c, const json_t *obj, const char *parent, const char *key, int *out)
{
	json_t *v;
	wq_status rc = get_field(c, obj, parent, key, JSON_TRUE, &v);

	if (rc == WQ_OK)
		*out = json_is_true(v);
	return rc;
}

static wq_status bad_value(mctx *c, const char *field, const char *why)
{
	return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: field '%s' %s", c->file, field, why);
}

static wq_status inconsistent(mctx *c, const char *what)
{
	return wq_err_set(c->err, c->errlen, WQ_ECORRUPT, "%s: %s", c->file, what);
}

/* Reads a numeric array of exactly n values. */
static wq_status get_reals(mctx *c, const json_t *obj, const char *parent, const char *key,
                           size_t n, const char *unit, double *out)
{
	json_t *a, *v;
	size_t i;
	wq_status rc = get_field(c, obj, parent, key, JSON_ARRAY, &a);

	if (rc != WQ_OK)
		return rc;
	if (json_array_size(a) != n)
		return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
		                  "%s: %s.%s has %zu values for %zu %s", c->file, parent, key,
		                  json_array_size(a), n, unit);
	json_array_foreach(a, i, v)
	{
		if (!json_is_number(v))
			return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
			                  "%s: %s.%s[%zu] must be a number", c->file, parent, key,
			                  i);
		out[i] = json_number_value(v);
	}
	return WQ_OK;
}

static wq_status get_int_array(mctx *c, const json_t *a, const char *field, size_t max, int *out,
                               size_t *n)
{
	json_t *v;
	size_t i;

	if (!json_is_array(a))
		return bad_value(c, field, "must be an array");
	if (json_array_size(a) > max)
		return bad_value(c, field, "has too many values");
	json_array_foreach(a, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < INT_MIN ||
		    json_integer_value(v) > INT_MAX)
			return bad_value(c, field, "must hold integers");
		out[i] = (int)json_integer_value(v);
	}
	*n = json_array_size(a);
	return WQ_OK;
}

/* features: unique, CSV-safe names. */
static wq_status load_features(mctx *c, const json_t *root, wq_bundle *b)
{
	json_t *a, *v;
	size_t i, n;
	wq_status rc = get_field(c, root, NULL, "features", JSON_ARRAY, &a);

	if (rc != WQ_OK)
		return rc;
	n = json_array_size(a);
	if (n < 1 || n > WQ_CSV_MAX_COLS)
		return bad_value(c, "features", "must list 1 to 256 names");
	b->features = calloc(n, sizeof(char *));
	if (b->features == NULL)
		return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL || !safe_column_name(s))
			return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
			                  "%s: features[%zu] is not a valid column name", c->file,
			                  i);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(b->features[j], s) == 0)
				return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
				                  "%s: feature '%s' is listed twice", c->file, s);
		}
		b->features[i] = strdup(s);
		if (b->features[i] == NULL)
			return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
		b->nfeatures = i + 1;
	}
	return WQ_OK;
}

static wq_status load_scaler(mctx *c, const json_t *root, wq_bundle *b)
{
	json_t *s;
	const char *type;
	double *mean = NULL, *scale = NULL;
	size_t n = b->nfeatures;
	wq_status rc = get_field(c, root, NULL, "scaler", JSON_OBJECT, &s);

	if (rc == WQ_OK)
		rc = get_string(c, s, "scaler", "type", &type);
	if (rc != WQ_OK)
		return rc;
	if (strcmp(type, SCALER_TYPE) != 0)
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: unsupported scaler type '%s'",
		                  c->file, type);
	mean = malloc(n * sizeof(double));
	scale = malloc(n * sizeof(double));
	if (mean == NULL || scale == NULL) {
		rc = wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = get_reals(c, s, "scaler", "mean", n, "features", mean);
	if (rc == WQ_OK)
		rc = get_reals(c, s, "scaler", "scale", n, "features", scale);
	if (rc != WQ_OK)
		goto fail;
	rc = wq_scaler_create(n, mean, scale, &b->scaler);
	if (rc == WQ_EINVAL)
		rc = inconsistent(c, "scaler values must be finite with every scale > 0");
	else if (rc != WQ_OK)
		rc = wq_err_set(c->err, c->errlen, rc, "cannot create the scaler");
fail:
	free(mean);
	free(scale);
	return rc;
}

static wq_status parse_seed(mctx *c, const json_t *training, uint64_t *out)
{
	json_t *v = json_object_get(training, "seed");
	const char *s;
	char *end;
	unsigned long long u;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return WQ_OK;
	}
	s = json_string_value(v);
	if (s != NULL && s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		u = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0') {
			*out = u;
			return WQ_OK;
		}
	}
	if (v == NULL)
		return bad_value(c, "training.seed", "is missing");
	return bad_value(c, "training.seed", "must be a non-negative integer");
}

static wq_status load_training(mctx *c, const json_t *root, wq_bundle *b)
{
	json_t *t;
	const char *file, *sha;
	wq_bundle_training *tr = &b->training;
	wq_status rc = get_field(c, root, NULL, "training", JSON_OBJECT, &t);

	if (rc == WQ_OK)
		rc = get_string(c, t, "training", "data_file", &file);
	if (rc == WQ_OK)
		rc = get_string(c, t, "training", "data_sha256", &sha);
	if (rc == WQ_OK)
		rc = get_count(c, t, "training", "data_rows", &tr->data_rows);
	if (rc == WQ_OK)
		rc = get_count(c, t, "training", "train_rows", &tr->train_rows);
	if (rc == WQ_OK)
		rc = get_count(c, t, "training", "test_rows", &tr->test_rows);
	if (rc == WQ_OK)
		rc = parse_seed(c, t, &tr->seed);
	if (rc == WQ_OK)
		rc = get_real(c, t, "training", "test_fraction", &tr->test_fraction);
	if (rc == WQ_OK)
		rc = get_bool(c, t, "training", "stratify", &tr->stratify);
	if (rc != WQ_OK)
		return rc;
	if (!is_sha256_hex(sha))
		return bad_value(c, "training.data_sha256", "must be 64 lower-case hex digits");
	memcpy(tr->data_sha256, sha, WQ_SHA256_HEXLEN);
	if (tr->train_rows + tr->test_rows != tr->data_rows)
		return inconsistent(c, "training rows: train + test != data rows");
	tr->data_file = strdup(file);
	if (tr->data_file == NULL)
		return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
	return WQ_OK;
}

static wq_status load_metrics(mctx *c, const json_t *root, wq_bundle *b)
{
	json_t *mo, *t, *cm, *row, *v;
	wq_metrics *m = NULL;
	int labels[WQ_SVM_MAX_CLASSES * 2];
	size_t nl = 0, i, j, total = 0;
	wq_status rc = get_field(c, root, NULL, "metrics", JSON_OBJECT, &mo);

	if (rc != WQ_OK)
		return rc;
	t = json_object_get(mo, "test");
	if (t == NULL)
		return WQ_OK;
	if (!json_is_object(t))
		return bad_value(c, "metrics.test", "must be an object");
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
	rc = get_count(c, t, "metrics.test", "n", &m->n);
	if (rc == WQ_OK)
		rc = get_real(c, t, "metrics.test", "accuracy", &m->accuracy);
	if (rc == WQ_OK)
		rc = get_real(c, t, "metrics.test", "balanced_accuracy", &m->balanced_accuracy);
	if (rc == WQ_OK)
		rc = get_real(c, t, "metrics.test", "f1_macro", &m->f1_macro);
	if (rc == WQ_OK)
		rc = get_int_array(c, json_object_get(t, "labels"), "metrics.test.labels",
		                   sizeof(labels) / sizeof(labels[0]), labels, &nl);
	if (rc == WQ_OK)
		rc = get_field(c, t, "metrics.test", "confusion_matrix", JSON_ARRAY, &cm);
	if (rc != WQ_OK)
		goto fail;
	if (!(m->accuracy >= 0.0 && m->accuracy <= 1.0) ||
	    !(m->balanced_accuracy >= 0.0 && m->balanced_accuracy <= 1.0) ||
	    !(m->f1_macro >= 0.0 && m->f1_macro <= 1.0)) {
		rc = bad_value(c, "metrics.test", "has a score outside [0, 1]");
		goto fail;
	}
	if (nl < 1 || json_array_size(cm) != nl) {
		rc = bad_value(c, "metrics.test.confusion_matrix", "does not match the labels");
		goto fail;
	}
	m->nclass = nl;
	m->labels = malloc(nl * sizeof(int));
	m->confusion = calloc(nl * nl, sizeof(size_t));
	if (m->labels == NULL || m->confusion == NULL) {
		rc = wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(m->labels, labels, nl * sizeof(int));
	json_array_foreach(cm, i, row)
	{
		if (!json_is_array(row) || json_array_size(row) != nl) {
			rc = bad_value(c, "metrics.test.confusion_matrix", "must be square");
			goto fail;
		}
		json_array_foreach(row, j, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				rc = bad_value(c, "metrics.test.confusion_matrix",
				               "must hold non-negative integers");
				goto fail;
			}
			m->confusion[i * nl + j] = (size_t)json_integer_value(v);
			total += m->confusion[i * nl + j];
		}
	}
	if (total != m->n) {
		rc = inconsistent(c, "test confusion matrix does not add up to n");
		goto fail;
	}
	b->test_metrics = m;
	return WQ_OK;
fail:
	wq_metrics_free(m);
	return rc;
}

static wq_status load_strings(mctx *c, const json_t *root, wq_bundle *b)
{
	const char *name, *created, *version, *target;
	wq_status rc = get_string(c, root, NULL, "name", &name);

	if (rc == WQ_OK)
		rc = get_string(c, root, NULL, "created", &created);
	if (rc == WQ_OK)
		rc = get_string(c, root, NULL, "wineq_version", &version);
	if (rc == WQ_OK)
		rc = get_string(c, root, NULL, "target", &target);
	if (rc != WQ_OK)
		return rc;
	if (!safe_column_name(target))
		return bad_value(c, "target", "is not a valid column name");
	b->name = strdup(name);
	b->created = strdup(created);
	b->wineq_version = strdup(version);
	b->target = strdup(target);
	if (b->name == NULL || b->created == NULL || b->wineq_version == NULL || b->target == NULL)
		return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->nfeatures; i++) {
		if (strcmp(b->features[i], target) == 0)
			return inconsistent(c, "the target is also listed as a feature");
	}
	return WQ_OK;
}

/* Every file the manifest lists must be a plain name in the bundle with the recorded
 * checksum; a missing one means the bundle is incomplete. The line counts of reference.csv and
 * (refpred not NULL) of the reference predictions come back for their row checks. */
static wq_status verify_files(mctx *c, const char *dir, const json_t *files, const char *reference,
                              size_t *ref_lines, const char *refpred, size_t *refpred_lines)
{
	const char *name;
	json_t *v;
	char path[PATH_MAX], hex[WQ_SHA256_HEXLEN];
	wq_status rc;

	json_object_foreach((json_t *)files, name, v)
	{
		const char *want = json_string_value(v);
		size_t lines = 0;
		long long max =
		    strcmp(name, reference) == 0 ? (long long)LLONG_MAX : WQ_BUNDLE_MAX_MODEL;

		if (!plain_file_name(name) || strcmp(name, WQ_BUNDLE_MANIFEST) == 0)
			return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
			                  "%s: unsafe file name '%.64s' in files", c->file, name);
		if (!is_sha256_hex(want))
			return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
			                  "%s: files.%s must be a SHA-256 hex digest", c->file,
			                  name);
		rc = join_path(path, sizeof(path), dir, name, c->err, c->errlen);
		if (rc != WQ_OK)
			return rc;
		rc = file_digest(path, max, hex, &lines, c->err, c->errlen);
		if (rc == WQ_ENOENT)
			return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
			                  "bundle %s is incomplete: %s is missing", dir, name);
		if (rc != WQ_OK)
			return rc;
		if (strcmp(hex, want) != 0)
			return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
			                  "%s: checksum mismatch (expected %s, actual %s)", path,
			                  want, hex);
		if (strcmp(name, reference) == 0)
			*ref_lines = lines;
		if (refpred != NULL && strcmp(name, refpred) == 0)
			*refpred_lines = lines;
	}
	return WQ_OK;
}

static wq_status load_model(mctx *c, const char *dir, const json_t *root, wq_bundle *b)
{
	json_t *mo;
	const char *type, *file, *kernel, *cw;
	double C, gamma;
	int probability, kid, cwid;
	size_t nsv, ncls = 0;
	int classes[WQ_SVM_MAX_CLASSES + 1];
	char path[PATH_MAX];
	wq_svm_params p;
	wq_status rc = get_field(c, root, NULL, "model", JSON_OBJECT, &mo);

	if (rc == WQ_OK)
		rc = get_string(c, mo, "model", "type", &type);
	if (rc == WQ_OK)
		rc = get_string(c, mo, "model", "file", &file);
	if (rc == WQ_OK)
		rc = get_string(c, mo, "model", "kernel", &kernel);
	if (rc == WQ_OK)
		rc = get_real(c, mo, "model", "C", &C);
	if (rc == WQ_OK)
		rc = get_real(c, mo, "model", "gamma", &gamma);
	if (rc == WQ_OK)
		rc = get_bool(c, mo, "model", "probability", &probability);
	if (rc == WQ_OK)
		rc = get_string(c, mo, "model", "class_weight", &cw);
	if (rc == WQ_OK)
		rc = get_count(c, mo, "model", "support_vectors", &nsv);
	if (rc == WQ_OK)
		rc = get_int_array(c, json_object_get(root, "classes"), "classes",
		                   WQ_SVM_MAX_CLASSES + 1, classes, &ncls);
	if (rc != WQ_OK)
		return rc;
	if (strcmp(type, MODEL_TYPE) != 0)
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT, "%s: unsupported model type '%s'",
		                  c->file, type);
	if (wq_svm_kernel_parse(kernel, &kid) != WQ_OK)
		return bad_value(c, "model.kernel", "must be \"linear\" or \"rbf\"");
	if (wq_svm_class_weight_parse(cw, &cwid) != WQ_OK)
		return bad_value(c, "model.class_weight", "must be \"none\" or \"balanced\"");
	if (!(C > 0.0) || !isfinite(C))
		return bad_value(c, "model.C", "must be a positive number");
	if (!plain_file_name(file))
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
		                  "%s: unsafe model file name '%.64s'", c->file, file);
	if (json_object_get(json_object_get(root, "files"), file) == NULL)
		return inconsistent(c, "the model file has no checksum in files");

	rc = join_path(path, sizeof(path), dir, file, c->err, c->errlen);
	if (rc == WQ_OK)
		rc = wq_svm_load(path, b->nfeatures, &b->svm, c->err, c->errlen);
	if (rc != WQ_OK)
		return rc;
	wq_svm_params_get(b->svm, &p);
	if (p.kernel != kid)
		return inconsistent(c, "model.kernel disagrees with the model file");
	if (kid == WQ_KERNEL_RBF && memcmp(&p.gamma, &gamma, sizeof(double)) != 0)
		return inconsistent(c, "model.gamma disagrees with the model file");
	if (wq_svm_has_probability(b->svm) != probability)
		return inconsistent(c, "model.probability disagrees with the model file");
	if (wq_svm_sv_count(b->svm) != nsv)
		return inconsistent(c, "model.support_vectors disagrees with the model file");
	if (ncls != wq_svm_class_count(b->svm) ||
	    memcmp(classes, wq_svm_classes(b->svm), ncls * sizeof(int)) != 0)
		return inconsistent(c, "classes disagree with the model file");
	p.C = C;
	p.class_weight = cwid;
	p.seed = (unsigned)b->training.seed;
	wq_svm_set_training_params(b->svm, &p);
	return WQ_OK;
}

/* The manifest's reference_predictions entry (version 2): checked against the model and the
 * reference once both are known. */
typedef struct refpred_meta {
	const char *file;
	size_t rows;
	const json_t *columns;
	size_t lines; /* of the file, from verify_files */
} refpred_meta;

static wq_status get_refpred_meta(mctx *c, const json_t *root, const json_t *files, refpred_meta *m)
{
	json_t *r, *cols;
	wq_status rc = get_field(c, root, NULL, "reference_predictions", JSON_OBJECT, &r);

	if (rc == WQ_OK)
		rc = get_string(c, r, "reference_predictions", "file", &m->file);
	if (rc == WQ_OK)
		rc = get_count(c, r, "reference_predictions", "rows", &m->rows);
	if (rc == WQ_OK)
		rc = get_field(c, r, "reference_predictions", "columns", JSON_ARRAY, &cols);
	if (rc != WQ_OK)
		return rc;
	if (!plain_file_name(m->file))
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
		                  "%s: unsafe reference predictions file name '%.64s'", c->file,
		                  m->file);
	if (json_object_get(files, m->file) == NULL)
		return inconsistent(c, "the reference predictions file has no checksum in files");
	m->columns = cols;
	m->lines = 0;
	return WQ_OK;
}

static wq_status load_reference(mctx *c, const char *dir, const json_t *root, int flags,
                                const json_t *files, refpred_meta *rpm, wq_bundle *b)
{
	json_t *r, *cols, *v;
	const char *file;
	char path[PATH_MAX];
	size_t rows, i, lines = 0;
	wq_csv_opts opts;
	wq_status rc = get_field(c, root, NULL, "reference", JSON_OBJECT, &r);

	if (rc == WQ_OK)
		rc = get_string(c, r, "reference", "file", &file);
	if (rc == WQ_OK)
		rc = get_count(c, r, "reference", "rows", &rows);
	if (rc == WQ_OK)
		rc = get_field(c, r, "reference", "columns", JSON_ARRAY, &cols);
	if (rc != WQ_OK)
		return rc;
	if (!plain_file_name(file))
		return wq_err_set(c->err, c->errlen, WQ_EFORMAT,
		                  "%s: unsafe reference file name '%.64s'", c->file, file);
	if (json_object_get(files, file) == NULL)
		return inconsistent(c, "the reference file has no checksum in files");
	if (json_array_size(cols) != b->nfeatures + 1)
		return inconsistent(c, "reference columns are not the features and the target");
	json_array_foreach(cols, i, v)
	{
		const char *want = i < b->nfeatures ? b->features[i] : b->target;

		if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
			return inconsistent(
			    c, "reference columns are not the features and the target");
	}
	if (rows < 1)
		return bad_value(c, "reference.rows", "must be positive");

	rc = verify_files(c, dir, files, file, &lines, rpm != NULL ? rpm->file : NULL,
	                  rpm != NULL ? &rpm->lines : NULL);
	if (rc != WQ_OK)
		return rc;
	/* one header line and one line per row, each ending in '\n' as written */
	if (lines != rows + 1)
		return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
		                  "%s/%s has %zu data lines, the manifest says %zu rows", dir, file,
		                  lines > 0 ? lines - 1 : 0, rows);
	b->reference_rows = rows;
	if (!(flags & WQ_BUNDLE_LOAD_REFERENCE))
		return WQ_OK;

	rc = join_path(path, sizeof(path), dir, file, c->err, c->errlen);
	if (rc != WQ_OK)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.delimiter = ',';
	rc = wq_dataset_read_csv(path, &opts, &b->reference, c->err, c->errlen);
	if (rc != WQ_OK)
		return rc == WQ_ENOMEM ? rc : WQ_ECORRUPT;
	if (b->reference->nrows != rows || b->reference->ncols != b->nfeatures + 1)
		return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
		                  "%s: %zu rows x %zu columns, the manifest says %zu x %zu", path,
		                  b->reference->nrows, b->reference->ncols, rows, b->nfeatures + 1);
	for (i = 0; i <= b->nfeatures; i++) {
		const char *want = i < b->nfeatures ? b->features[i] : b->target;

		if (strcmp(b->reference->names[i], want) != 0)
			return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
			                  "%s: column %zu is '%s', expected '%s'", path, i + 1,
			                  b->reference->names[i], want);
	}
	return WQ_OK;
}

/* The decision rule and the class weights of training (version 2); a version 1 bundle was
 * scored and served by the vote, and keeps it. */
static wq_status load_decision(mctx *c, const json_t *root, int version, wq_bundle *b)
{
	double w[WQ_SVM_MAX_CLASSES];
	const char *name;
	wq_status rc;

	if (version < 2) {
		b->decision = WQ_DECISION_VOTE;
		return WQ_OK;
	}
	rc = get_string(c, root, NULL, "decision", &name);
	if (rc != WQ_OK)
		return rc;
	if (wq_svm_decision_parse(name, &b->decision) != WQ_OK || b->decision == WQ_DECISION_AUTO)
		return bad_value(c, "decision", "must be \"vote\", \"argmax\" or \"prior-shift\"");
	if (b->decision != WQ_DECISION_VOTE && !wq_svm_has_probability(b->svm))
		return inconsistent(c, "the decision rule needs probabilities the model lacks");
	rc = get_reals(c, json_object_get(root, "model"), "model", "class_weights",
	               wq_svm_class_count(b->svm), "classes", w);
	if (rc != WQ_OK)
		return rc;
	if (wq_svm_set_class_weights(b->svm, w) != WQ_OK)
		return bad_value(c, "model.class_weights", "must hold positive numbers");
	return WQ_OK;
}

static wq_status check_refpred_meta(mctx *c, const refpred_meta *m, const wq_bundle *b)
{
	char want[32];
	size_t j;
	json_t *v;

	if (m->rows != b->reference_rows)
		return inconsistent(c, "reference_predictions.rows differs from reference.rows");
	if (m->lines != m->rows + 1)
		return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
		                  "%s has %zu data lines, the manifest says %zu rows", m->file,
		                  m->lines > 0 ? m->lines - 1 : 0, m->rows);
	if (json_array_size(m->columns) != refpred_columns(b))
		return inconsistent(c, "reference_predictions.columns do not fit the model");
	json_array_foreach(m->columns, j, v)
	{
		refpred_column_name(b, j, want, sizeof(want));
		if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
			return inconsistent(c,
			                    "reference_predictions.columns do not fit the model");
	}
	return WQ_OK;
}

/* The stored predictions, checked like any input: classes of the model, probabilities in
 * [0, 1], and under argmax or prior-shift a label that is the most probable class. */
static wq_status refpred_from(mctx *c, const char *path, const wq_dataset *ds, const wq_bundle *b,
                              wq_bundle_refpred *rp)
{
	size_t k = wq_svm_class_count(b->svm), nc = ds->ncols;
	const int *classes = wq_svm_classes(b->svm);

	for (size_t i = 0; i < ds->nrows; i++) {
		const double *row = &ds->values[i * nc];
		size_t li = k;

		for (size_t j = 0; j < k; j++) {
			if (row[0] == (double)classes[j])
				li = j;
		}
		if (li == k)
			return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
			                  "%s: row %zu predicts %g, not a class of the model", path,
			                  i + 1, row[0]);
		rp->labels[i] = classes[li];
		for (size_t j = 1; j < nc; j++) {
			if (!(row[j] >= 0.0 && row[j] <= 1.0))
				return wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
				                  "%s: row %zu has a probability outside [0, 1]",
				                  path, i + 1);
			if (b->decision != WQ_DECISION_VOTE && row[j] > row[1 + li])
				return wq_err_set(
				    c->err, c->errlen, WQ_ECORRUPT,
				    "%s: row %zu's prediction is not its most probable "
				    "class",
				    path, i + 1);
			rp->probs[i * k + j - 1] = row[j];
		}
	}
	return WQ_OK;
}

static wq_status load_refpred(mctx *c, const char *dir, const refpred_meta *m, wq_bundle *b)
{
	char path[PATH_MAX];
	wq_csv_opts opts;
	wq_dataset *ds = NULL;
	wq_bundle_refpred *rp;
	size_t nc = refpred_columns(b), k = wq_svm_class_count(b->svm);
	wq_status rc = join_path(path, sizeof(path), dir, m->file, c->err, c->errlen);

	if (rc != WQ_OK)
		return rc;
	rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
	memset(&opts, 0, sizeof(opts));
	opts.delimiter = ',';
	rc = wq_dataset_read_csv(path, &opts, &ds, c->err, c->errlen);
	if (rc != WQ_OK) {
		rc = rc == WQ_ENOMEM ? rc : WQ_ECORRUPT;
		goto fail;
	}
	if (ds->nrows != m->rows || ds->ncols != nc) {
		rc = wq_err_set(c->err, c->errlen, WQ_ECORRUPT,
		                "%s: %zu rows x %zu columns, the manifest says %zu x %zu", path,
		                ds->nrows, ds->ncols, m->rows, nc);
		goto fail;
	}
	rp->nrows = ds->nrows;
	rp->nclass = k;
	rp->labels = malloc((ds->nrows > 0 ? ds->nrows : 1) * sizeof(int));
	if (nc > 1)
		rp->probs = malloc((ds->nrows > 0 ? ds->nrows : 1) * k * sizeof(double));
	if (rp->labels == NULL || (nc > 1 && rp->probs == NULL)) {
		rc = wq_err_set(c->err, c->errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = refpred_from(c, path, ds, b, rp);
	if (rc != WQ_OK)
		goto fail;
	wq_dataset_free(ds);
	b->reference_predictions = rp;
	return WQ_OK;
fail:
	wq_dataset_free(ds);
	wq_bundle_refpred_free(rp);
	return rc;
}

static wq_status parse_manifest(const char *dir, const char *file, char *err, size_t errlen,
                                json_t **out, int *version)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root, *fmt, *ver;
	struct stat st;
	wq_status rc;

	if (stat(dir, &st) != 0)
		return wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO, "%s: %s", dir,
		                  strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s is not a bundle directory", dir);
	rc = wq_file_read(file, WQ_BUNDLE_MAX_MANIFEST, &text, &len, err, errlen);
	if (rc == WQ_ENOENT)
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s is not a wineq bundle (no %s)", dir,
		                  WQ_BUNDLE_MANIFEST);
	if (rc != WQ_OK)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s:%d:%d: %s", file, jerr.line,
		                  jerr.column, jerr.text);
	fmt = json_object_get(root, "format");
	if (!json_is_object(root) || !json_is_string(fmt) ||
	    strcmp(json_string_value(fmt), WQ_BUNDLE_FORMAT) != 0) {
		json_decref(root);
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s: not a wineq bundle", dir);
	}
	ver = json_object_get(root, "format_version");
	if (!json_is_integer(ver)) {
		json_decref(root);
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s: format_version must be an integer",
		                  file);
	}
	if (json_integer_value(ver) < 1 || json_integer_value(ver) > WQ_BUNDLE_FORMAT_VERSION) {
		json_int_t v = json_integer_value(ver);

		json_decref(root);
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "%s: unsupported bundle version %" JSON_INTEGER_FORMAT
		                  " (this wineq reads versions 1 to %d)",
		                  dir, v, WQ_BUNDLE_FORMAT_VERSION);
	}
	*version = (int)json_integer_value(ver);
	*out = root;
	return WQ_OK;
}

wq_status wq_bundle_load(const char *dir, int flags, wq_bundle **out, char *err, size_t errlen)
{
	char file[PATH_MAX];
	json_t *root = NULL, *files;
	wq_bundle *b = NULL;
	refpred_meta rpm;
	mctx c;
	int rc, version = 0;

	if (dir == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_bundle_load: NULL argument");
	rc = join_path(file, sizeof(file), dir, WQ_BUNDLE_MANIFEST, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = parse_manifest(dir, file, err, errlen, &root, &version);
	if (rc != WQ_OK)
		return rc;
	c.file = file;
	c.err = err;
	c.errlen = errlen;
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = get_field(&c, root, NULL, "files", JSON_OBJECT, &files);
	if (rc == WQ_OK)
		rc = load_features(&c, root, b);
	if (rc == WQ_OK)
		rc = load_strings(&c, root, b);
	if (rc == WQ_OK)
		rc = load_training(&c, root, b);
	if (rc == WQ_OK)
		rc = load_scaler(&c, root, b);
	if (rc == WQ_OK)
		rc = load_metrics(&c, root, b);
	if (rc == WQ_OK && version >= 2)
		rc = get_refpred_meta(&c, root, files, &rpm);
	/* checksums before any data file is parsed */
	if (rc == WQ_OK)
		rc = load_reference(&c, dir, root, flags, files, version >= 2 ? &rpm : NULL, b);
	if (rc == WQ_OK)
		rc = load_model(&c, dir, root, b);
	if (rc == WQ_OK)
		rc = load_decision(&c, root, version, b);
	if (rc == WQ_OK && version >= 2)
		rc = check_refpred_meta(&c, &rpm, b);
	if (rc == WQ_OK && (flags & WQ_BUNDLE_LOAD_REFERENCE)) {
		if (version >= 2)
			rc = load_refpred(&c, dir, &rpm, b);
		else
			rc = wq_bundle_refpred_compute(b, &b->reference_predictions, err, errlen);
	}
	if (rc != WQ_OK)
		goto fail;
	json_decref(root);
	*out = b;
	return WQ_OK;
fail:
	json_decref(root);
	wq_bundle_free(b);
	return rc;
}

/* ---- prediction --------------------------------------------------------------------------- */

/* names[i] against the model's features (one rule for every path: wq_features_match): a used
 * feature is marked in seen, another UCI column is ignored, anything else is refused with the
 * nearest known name. */
static wq_status feature_check(const wq_bundle *b, const char *const *names, const double *values,
                               size_t i, unsigned char *seen, char *err, size_t errlen)
{
	const char *near = NULL;
	size_t j = 0;

	if (names[i] == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "feature #%zu has no name", i + 1);
	switch (wq_features_match(names[i], (const char *const *)b->features, b->nfeatures, &j,
	                          &near)) {
	case WQ_FEATURE_UNKNOWN:
		return wq_features_unknown_error(err, errlen, names[i], near);
	case WQ_FEATURE_USED:
		if (seen[j])
			return wq_err_set(err, errlen, WQ_EINVAL, "duplicate feature '%s'",
			                  names[i]);
		seen[j] = 1;
		break;
	case WQ_FEATURE_UNUSED:
		break;
	}
	if (!isfinite(values[i]))
		return wq_err_set(err, errlen, WQ_EINVAL, "feature '%s' is not a finite number",
		                  names[i]);
	return WQ_OK;
}

wq_status wq_bundle_features_order(const wq_bundle *b, const char *const *names,
                                   const double *values, size_t n, double *out, char *err,
                                   size_t errlen)
{
	unsigned char seen_stack[WQ_CSV_MAX_COLS];
	unsigned char *seen = seen_stack;
	size_t nf;
	wq_status rc = WQ_OK;

	if (b == NULL || (n > 0 && (names == NULL || values == NULL)) || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_bundle_features_order: NULL argument");
	nf = b->nfeatures;
	if (nf > sizeof(seen_stack)) {
		seen = calloc(nf, 1);
		if (seen == NULL)
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	} else {
		memset(seen, 0, nf);
	}
	/* validate everything first: out is only written on success */
	for (size_t i = 0; i < n && rc == WQ_OK; i++)
		rc = feature_check(b, names, values, i, seen, err, errlen);
	for (size_t j = 0; j < nf && rc == WQ_OK; j++) {
		if (!seen[j])
			rc = wq_err_set(err, errlen, WQ_EINVAL, "missing feature '%s'",
			                b->features[j]);
	}
	for (size_t i = 0; i < n && rc == WQ_OK; i++) {
		size_t j;

		if (wq_features_match(names[i], (const char *const *)b->features, nf, &j, NULL) ==
		    WQ_FEATURE_USED)
			out[j] = values[i];
	}
	if (seen != seen_stack)
		free(seen);
	return rc;
}

wq_status wq_bundle_predict(const wq_bundle *b, const double *raw, wq_prediction *out, char *err,
                            size_t errlen)
{
	double stack_buf[STACK_FEATURES];
	double *x = stack_buf;
	double probs[WQ_SVM_MAX_CLASSES];
	size_t nf, nclass;
	int label = 0, has_prob, rc = WQ_OK;

	if (b == NULL || b->svm == NULL || b->scaler == NULL || raw == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_bundle_predict: NULL argument");
	nf = b->nfeatures;
	for (size_t j = 0; j < nf; j++) {
		if (!isfinite(raw[j]))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feature '%s' is not a finite number", b->features[j]);
	}
	if (nf > STACK_FEATURES) {
		x = malloc(nf * sizeof(double));
		if (x == NULL)
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	wq_scaler_transform(b->scaler, raw, x, 1);
	for (size_t j = 0; j < nf && rc == WQ_OK; j++) {
		/* finite input can still overflow once scaled */
		if (!isfinite(x[j]))
			rc = wq_err_set(err, errlen, WQ_EINVAL, "feature '%s' is out of range",
			                b->features[j]);
	}
	has_prob = wq_svm_has_probability(b->svm);
	if (rc == WQ_OK) {
		rc = wq_svm_predict_rule(b->svm, x, b->decision, &label, has_prob ? probs : NULL);
		if (rc != WQ_OK)
			wq_err_set(err, errlen, rc, "prediction failed: %s", wq_strerror(rc));
	}
	if (x != stack_buf)
		free(x);
	if (rc != WQ_OK)
		return rc;
	nclass = wq_svm_class_count(b->svm);
	memset(out, 0, sizeof(*out));
	out->quality = label;
	out->nclass = nclass;
	memcpy(out->classes, wq_svm_classes(b->svm), nclass * sizeof(int));
	out->has_probabilities = has_prob;
	if (has_prob)
		memcpy(out->probabilities, probs, nclass * sizeof(double));
	return WQ_OK;
}

wq_status wq_bundle_refpred_compute(const wq_bundle *b, wq_bundle_refpred **out, char *err,
                                    size_t errlen)
{
	wq_bundle_refpred *rp;
	const wq_dataset *ref;
	wq_prediction p;
	size_t k, n;
	wq_status rc = WQ_OK;

	if (b == NULL || b->svm == NULL || b->reference == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_bundle_refpred_compute: no bundle or reference data");
	ref = b->reference;
	n = ref->nrows;
	k = wq_svm_class_count(b->svm);
	if (ref->ncols != b->nfeatures + 1)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "reference data must have the %zu features and the target",
		                  b->nfeatures);
	rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	rp->nrows = n;
	rp->nclass = k;
	rp->computed = 1;
	rp->labels = malloc((n > 0 ? n : 1) * sizeof(int));
	if (wq_svm_has_probability(b->svm))
		rp->probs = malloc((n > 0 ? n : 1) * k * sizeof(double));
	if (rp->labels == NULL || (wq_svm_has_probability(b->svm) && rp->probs == NULL)) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	/* reference rows hold the features in model order, then the target */
	for (size_t i = 0; i < n && rc == WQ_OK; i++) {
		rc = wq_bundle_predict(b, &ref->values[i * ref->ncols], &p, err, errlen);
		if (rc != WQ_OK)
			break;
		rp->labels[i] = p.quality;
		if (rp->probs != NULL)
			memcpy(&rp->probs[i * k], p.probabilities, k * sizeof(double));
	}
	if (rc != WQ_OK)
		goto fail;
	*out = rp;
	return WQ_OK;
fail:
	wq_bundle_refpred_free(rp);
	return rc;
}
