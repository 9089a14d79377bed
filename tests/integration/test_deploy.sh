#!/bin/sh
# The monitoring deployment files in deploy/: the Prometheus configuration and alerting rules
# pass promtool (check config, check rules, and the alerts' unit tests); the Grafana dashboard
# and provisioning files have the structure Grafana needs; every metric name used anywhere in
# them is one wineqd or wineq-monitor exports (the list below), and the dashboard's queries are
# valid PromQL. The configuration for many replicas (prometheus-replicas.yml, its targets file)
# and the federation example pass promtool too, and a real Prometheus on loopback, given the
# replicas configuration with two targets, scrapes both; a second one, given federation.yml,
# pulls their wineq series through the first one's /federate with the site label kept
# (skipped without the prometheus binary).
#
# Needs: promtool (Debian: prometheus; scripts/setup-debian.sh) and /usr/bin/python3.
# python3-yaml, when present, allows the checks that read YAML structure; without it those
# are reported as skipped.
. "$(dirname "$0")/lib.sh"

D=$WQ_SRCDIR/deploy
PY=/usr/bin/python3

command -v promtool >/dev/null 2>&1 || die "promtool is missing: run sh scripts/setup-debian.sh"
[ -x "$PY" ] || die "$PY is missing"
[ -d "$D" ] || die "$D not found (WQ_SRCDIR=$WQ_SRCDIR)"

# The metrics the deployment files may use: one line each, name, type, exporter (both: the
# standard series of src/lib/serve/wq_prom.c that wineqd and the monitor register alike). Keep
# in step with docs/SERVING.md (wineqd) and the monitor's /metrics. Histograms also allow their
# _bucket, _sum and _count series; `up` is Prometheus' own.
cat >"$WORK/metrics.txt" <<'EOF'
wineq_requests_total                     counter    wineqd
wineq_request_duration_seconds           histogram  wineqd
wineq_predictions_total                  counter    wineqd
wineq_model_info                         gauge      wineqd
wineq_model_loaded                       gauge      wineqd
wineq_model_reloads_total                counter    wineqd
wineq_model_reload_failures_total        counter    wineqd
wineq_feed_events_published_total        counter    wineqd
wineq_feed_events_dropped_total          counter    wineqd
wineq_feedback_total                     counter    wineqd
wineq_registry_events_published_total    counter    wineqd
wineq_build_info                         gauge      both
process_cpu_seconds_total                counter    both
process_resident_memory_bytes            gauge      both
process_virtual_memory_bytes             gauge      both
process_open_fds                         gauge      both
process_max_fds                          gauge      both
process_start_time_seconds               gauge      both
wineq_drift_score                        gauge      wineq-monitor
wineq_drift_threshold                    gauge      wineq-monitor
wineq_drift_detected                     gauge      wineq-monitor
wineq_drift_dataset_detected             gauge      wineq-monitor
wineq_drift_share                        gauge      wineq-monitor
wineq_drift_columns_drifted              gauge      wineq-monitor
wineq_drift_columns                      gauge      wineq-monitor
wineq_drift_ks_pvalue                    gauge      wineq-monitor
wineq_drift_wasserstein_normed           gauge      wineq-monitor
wineq_drift_psi                          gauge      wineq-monitor
wineq_drift_js                           gauge      wineq-monitor
wineq_drift_data_insufficient            gauge      wineq-monitor
wineq_drift_min_events                   gauge      wineq-monitor
wineq_monitor_window_events              gauge      wineq-monitor
wineq_monitor_events_total               counter    wineq-monitor
wineq_monitor_events_rejected_total      counter    wineq-monitor
wineq_monitor_predicted_class_share      gauge      wineq-monitor
wineq_monitor_reference_model_info       gauge      wineq-monitor
wineq_monitor_last_event_age_seconds     gauge      wineq-monitor
wineq_monitor_feed_connected             gauge      wineq-monitor
wineq_monitor_feed_predictions_total     counter    wineq-monitor
wineq_monitor_feed_last_message_age_seconds gauge  wineq-monitor
wineq_monitor_events_duplicate_total     counter    wineq-monitor
wineq_monitor_labels_total               counter    wineq-monitor
wineq_monitor_join_predictions           gauge      wineq-monitor
wineq_monitor_state_errors_total         counter    wineq-monitor
wineq_quality_labelled                   gauge      wineq-monitor
wineq_quality_accuracy                   gauge      wineq-monitor
wineq_quality_balanced_accuracy          gauge      wineq-monitor
wineq_quality_f1_macro                   gauge      wineq-monitor
wineq_quality_recall                     gauge      wineq-monitor
wineq_quality_reference_balanced_accuracy gauge     wineq-monitor
wineq_quality_label_lag_seconds          gauge      wineq-monitor
EOF

# --- promtool ------------------------------------------------------------------------------
# check config resolves rule_files relative to the configuration file, so it checks
# alerts.yml too.
expect_exit 0 "promtool check config deploy/prometheus/prometheus.yml" \
	promtool check config "$D/prometheus/prometheus.yml"
expect_grep 'SUCCESS: 1 rule files found' "$WORK/out" "prometheus.yml loads alerts.yml"
expect_exit 0 "promtool check rules deploy/prometheus/alerts.yml" \
	promtool check rules "$D/prometheus/alerts.yml"
expect_grep 'SUCCESS: 12 rules found' "$WORK/out" "alerts.yml has the 12 alerts"
expect_exit 0 "promtool test rules deploy/prometheus/alerts_test.yml" \
	promtool test rules "$D/prometheus/alerts_test.yml"
# many replicas: file_sd_configs; promtool also reads the targets file (a missing one is only
# a warning, so that is checked here)
expect_exit 0 "promtool check config deploy/prometheus/prometheus-replicas.yml" \
	promtool check config "$D/prometheus/prometheus-replicas.yml"
expect_grep 'SUCCESS: 1 rule files found' "$WORK/out" "prometheus-replicas.yml loads alerts.yml"
if grep -q WARNING "$WORK/out" "$WORK/err"; then not_ok "promtool warns: $(grep -h WARNING "$WORK/out" "$WORK/err")"; else ok "prometheus-replicas.yml: its targets file is there and valid (no warning)"; fi
expect_exit 0 "promtool check config deploy/prometheus/federation.yml" \
	promtool check config "$D/prometheus/federation.yml"
if "$PY" - "$D/prometheus" >"$WORK/fed.out" 2>&1 <<'PYEOF'
import os, sys
try:
    import yaml
except ImportError:
    print("skip: python3-yaml not installed")
    sys.exit(0)
d = sys.argv[1]
rep = yaml.safe_load(open(os.path.join(d, "prometheus-replicas.yml")))
jobs = {j["job_name"]: j for j in rep["scrape_configs"]}
sd = [f for c in jobs.get("wineqd", {}).get("file_sd_configs", []) for f in c.get("files", [])]
targets = yaml.safe_load(open(os.path.join(d, sd[0]))) if sd else []
bad = []
if sd != ["targets/wineqd.yml"]:
    bad.append("wineqd is not scraped through file_sd_configs targets/wineqd.yml: %r" % sd)
if sum(len(g["targets"]) for g in targets) < 2:
    bad.append("the targets file lists fewer than two replicas")
if "wineq-monitor" not in jobs or rep.get("rule_files") != ["alerts.yml"]:
    bad.append("no wineq-monitor job or no alerts.yml")
if "site" not in rep.get("global", {}).get("external_labels", {}):
    bad.append("no external label site")
fed = yaml.safe_load(open(os.path.join(d, "federation.yml")))
f = fed["scrape_configs"][0]
match = f.get("params", {}).get("match[]", [])
if not (f.get("honor_labels") is True and f.get("metrics_path") == "/federate"
        and any("wineq_" in m for m in match) and len(f["static_configs"][0]["targets"]) >= 2):
    bad.append("federation.yml: %r" % f)
print("; ".join(bad) or "ok")
sys.exit(1 if bad else 0)
PYEOF
then
	ok "replicas via file_sd (two or more targets), the monitor, a site label; federation: /federate, honor_labels, match[] wineq_* ($(cat "$WORK/fed.out"))"
else
	not_ok "replicas/federation structure: $(cat "$WORK/fed.out")"
fi

# --- structure and metric names (python) ---------------------------------------------------
# Prints one "ok DESCRIPTION", "not_ok DESCRIPTION" or "skip DESCRIPTION" line per check, and
# writes the dashboard's queries as recording rules (JSON is YAML) for promtool.
"$PY" - "$D" "$WORK/metrics.txt" "$WORK/dashboard_rules.yml" "$WQ_SRCDIR" >"$WORK/py.out" 2>&1 <<'PYEOF'
import glob, json, os, re, sys

deploy, metrics_file, rules_out, srcdir = sys.argv[1:5]
try:
    import yaml
except ImportError:
    yaml = None

def report(good, what, detail=""):
    print(("ok " if good else "not_ok ") + what + ("" if good or not detail else ": " + detail))

def skip(what, why):
    print("skip " + what + " # SKIP " + why)

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

# -- the allowed names
declared, exporter = {}, {}
for line in read(metrics_file).splitlines():
    if line.strip():
        name, kind, who = line.split()
        declared[name] = kind
        exporter[name] = who
allowed = {"up"}
for name, kind in declared.items():
    allowed.add(name)
    if kind == "histogram":
        allowed.update(name + s for s in ("_bucket", "_sum", "_count"))

def base(name):
    for s in ("_bucket", "_sum", "_count"):
        if name.endswith(s) and declared.get(name[: -len(s)]) == "histogram":
            return name[: -len(s)]
    return name

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}

def metric_names(expr):
    """Metric names a PromQL expression selects: identifiers outside strings, label
    matchers, ranges and grouping clauses that are not function calls or keywords."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", s):
        if m.group(2) is None and m.group(1).lower() not in KEYWORDS:
            names.add(m.group(1))
    return names

def unknown_in(exprs):
    bad = {}
    for e in exprs:
        for n in metric_names(e):
            if n not in allowed:
                bad.setdefault(n, e)
    return bad

WINEQ_TOKEN = re.compile(r"(?<![\w-])(?:wineq_[a-z0-9_]+|process_[a-z0-9_]+)")

# -- the self-test of the name extraction, so that a broken parser cannot pass everything
probe = metric_names('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y(z)"}[5m]))) '
                     '/ on (job) group_left b > 1e3 and c offset 5m or vector(0)')
report(probe == {"a_bucket", "b", "c"}, "PromQL name extraction finds what it should",
       repr(sorted(probe)))

# -- dashboard
path = os.path.join(deploy, "grafana/dashboards/wineq.json")
dash = None
try:
    dash = json.loads(read(path))
    report(True, "dashboard JSON parses")
except (OSError, ValueError) as e:
    report(False, "dashboard JSON parses", str(e))
if dash is not None:
    DS = {"type": "prometheus", "uid": "${datasource}"}
    report(dash.get("uid") == "wineq-overview", "dashboard uid is wineq-overview",
           repr(dash.get("uid")))
    report(dash.get("title") == "wineq", "dashboard title is wineq", repr(dash.get("title")))
    sv = dash.get("schemaVersion")
    report(isinstance(sv, int) and sv >= 36, "dashboard schemaVersion >= 36", repr(sv))
    tvars = dash.get("templating", {}).get("list", [])
    dsvar = [v for v in tvars if v.get("name") == "datasource"]
    report(len(dsvar) == 1 and dsvar[0].get("type") == "datasource"
           and dsvar[0].get("query") == "prometheus",
           "a `datasource` variable of type datasource, query prometheus", repr(dsvar))
    # panels, rows' nested panels included
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))
    report(len(panels) > 0, "dashboard has panels")
    rows = [p.get("title", "") for p in panels if p.get("type") == "row"]
    report(any(r.startswith("Quality") for r in rows), "dashboard has a quality row", repr(rows))
    ids = [p.get("id") for p in panels]
    dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    report(None not in ids and not dup, "panel ids present and unique",
           "missing" if None in ids else "duplicates %s" % dup)
    badgrid = []
    for p in panels:
        g = p.get("gridPos")
        if not (isinstance(g, dict) and all(isinstance(g.get(k), int) for k in "hwxy")
                and g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["x"] + g["w"] <= 24):
            badgrid.append(p.get("title"))
    report(not badgrid, "every panel has a gridPos within 24 columns", repr(badgrid))
    baddatasource, badtarget, exprs, notargets = [], [], [], []
    for p in panels:
        if p.get("type") == "row":
            continue
        if p.get("datasource") != DS:
            baddatasource.append(p.get("title"))
        if not p.get("targets"):
            notargets.append(p.get("title"))
        for t in p.get("targets", []):
            if t.get("datasource") != DS:
                badtarget.append("%s/%s" % (p.get("title"), t.get("refId")))
            if not t.get("expr"):
                badtarget.append("%s/%s (no expr)" % (p.get("title"), t.get("refId")))
            else:
                exprs.append(t["expr"])
    for v in tvars:
        if v.get("type") == "query":
            if v.get("datasource") != DS:
                baddatasource.append("variable " + v.get("name", "?"))
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.match(r"^\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*$", q)
            exprs.append(m.group(1) if m else q)
    report(not baddatasource, "every panel and query variable uses ${datasource}",
           repr(baddatasource))
    report(not badtarget, "every target has an expr and uses ${datasource}", repr(badtarget))
    report(not notargets, "every panel has targets", repr(notargets))
    bad = unknown_in(exprs)
    report(not bad, "dashboard queries use only known metric names",
           "; ".join("%s in %s" % kv for kv in bad.items()))
    used = set()
    for e in exprs:
        used |= {base(n) for n in metric_names(e)}
    missing = sorted(n for n in declared if n not in used)
    report(not missing, "every exported metric is on the dashboard", repr(missing))
    quantiles = set(re.findall(r"histogram_quantile\(\s*([0-9.]+)", " ".join(exprs)))
    report({"0.5", "0.9", "0.99"} <= quantiles, "latency p50/p90/p99 via histogram_quantile",
           repr(sorted(quantiles)))
    tokens = set(WINEQ_TOKEN.findall(read(path)))
    report(tokens <= allowed, "every wineq_* name in the dashboard file is known",
           repr(sorted(tokens - allowed)))
    # the queries as recording rules, Grafana's variables replaced, for promtool
    subst = [("$__rate_interval", "1m"), ("$__range", "1h"), ("$__interval", "1m"),
             ("${column}", ".*"), ("$column", ".*")]
    rules = []
    for i, e in enumerate(exprs):
        for a, b in subst:
            e = e.replace(a, b)
        rules.append({"record": "dashboard:query_%d:check" % i, "expr": e})
    with open(rules_out, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)

# -- alerting rules and their tests
alerts_path = os.path.join(deploy, "prometheus/alerts.yml")
tests_path = os.path.join(deploy, "prometheus/alerts_test.yml")
alerts_text, tests_text = read(alerts_path), read(tests_path)
for what, text in (("alerts.yml", alerts_text), ("alerts_test.yml", tests_text)):
    tokens = set(WINEQ_TOKEN.findall(text))
    report(tokens <= allowed, "every wineq_* name in %s is known" % what,
           repr(sorted(tokens - allowed)))
WANT = {"WineqDatasetDriftSustained": ("warning", "15m"), "WineqFeatureDrift": ("info", "30m"),
        "WineqPredictionDrift": (None, None), "WineqdDown": ("critical", "2m"),
        "WineqMonitorDown": (None, None), "WineqdHighErrorRate": (None, "10m"),
        "WineqdNoModel": (None, "5m"), "WineqMonitorNoEvents": (None, None),
        "WineqModelReloadFailures": (None, None), "WineqQualityDrop": ("warning", "10m"),
        "WineqLabelsStale": ("warning", "30m"), "WineqLabelsUnmatched": ("info", "30m")}
if yaml is None:
    # Without a YAML parser: the expressions by their layout in this file (inline, or a
    # block scalar indented below `expr: |`).
    exprs, lines = [], alerts_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2) not in ("|", ">", "|-", ">-"):
            exprs.append(m.group(2))
            continue
        block, j = [], i + 1
        while j < len(lines) and (not lines[j].strip()
                                  or len(lines[j]) - len(lines[j].lstrip()) > len(m.group(1))):
            block.append(lines[j])
            j += 1
        exprs.append("\n".join(block))
    names = re.findall(r"^\s*-\s*alert:\s*(\S+)", alerts_text, re.M)
    report(sorted(names) == sorted(WANT), "alerts.yml defines the expected alerts",
           repr(sorted(names)))
    bad = unknown_in(exprs)
    report(len(exprs) == len(names) and not bad, "alert expressions use only known metric names",
           "; ".join("%s in %s" % kv for kv in bad.items()) or "%d exprs" % len(exprs))
    skip("alert labels, annotations and test coverage", "python3-yaml not installed")
else:
    doc = yaml.safe_load(alerts_text)
    rules = [r for g in doc.get("groups", []) for r in g.get("rules", [])]
    byname = {r.get("alert"): r for r in rules}
    report(sorted(byname) == sorted(WANT) and len(rules) == len(WANT),
           "alerts.yml defines the expected alerts", repr(sorted(byname)))
    bad = unknown_in([str(r.get("expr", "")) for r in rules])
    report(not bad, "alert expressions use only known metric names",
           "; ".join("%s in %s" % kv for kv in bad.items()))
    problems = []
    for name, (sev, dur) in WANT.items():
        r = byname.get(name, {})
        labels, ann = r.get("labels") or {}, r.get("annotations") or {}
        if labels.get("severity") not in ("critical", "warning", "info"):
            problems.append("%s: severity %r" % (name, labels.get("severity")))
        if sev and labels.get("severity") != sev:
            problems.append("%s: severity %r, want %s" % (name, labels.get("severity"), sev))
        if dur and r.get("for") != dur:
            problems.append("%s: for %r, want %s" % (name, r.get("for"), dur))
        for k in ("summary", "description", "runbook"):
            if not ann.get(k):
                problems.append("%s: no %s" % (name, k))
    fd = byname.get("WineqFeatureDrift", {}).get("annotations", {})
    if "$labels.column" not in fd.get("summary", "") + fd.get("description", "") or \
            "$labels.method" not in fd.get("summary", "") + fd.get("description", ""):
        problems.append("WineqFeatureDrift annotations do not name the column and method")
    report(not problems, "alert severities, durations and annotations", "; ".join(problems))
    qd = re.sub(r"\s+", " ", str(byname.get("WineqQualityDrop", {}).get("expr", "")))
    report(all(x in qd for x in ("wineq_quality_reference_balanced_accuracy - on (job, instance, "
                                 "name, version) wineq_quality_balanced_accuracy", ">= 0.1",
                                 "wineq_quality_labelled >= 100")),
           "WineqQualityDrop: 0.1 below the same version's test figure, >= 100 labels", qd)
    fd_expr = str(byname.get("WineqFeatureDrift", {}).get("expr", ""))
    report('column!~"prediction|target"' in fd_expr,
           "WineqFeatureDrift leaves out the prediction and the target", fd_expr)
    tdoc = yaml.safe_load(tests_text)
    fires, quiet = set(), set()
    for t in tdoc.get("tests", []):
        for a in t.get("alert_rule_test", []) or []:
            (fires if a.get("exp_alerts") else quiet).add(a.get("alertname"))
    report(set(WANT) <= fires, "alerts_test.yml shows every alert firing",
           repr(sorted(set(WANT) - fires)))
    report(set(WANT) <= quiet, "alerts_test.yml shows every alert not firing",
           repr(sorted(set(WANT) - quiet)))
    rf = tdoc.get("rule_files") or []
    report(rf == ["alerts.yml"], "alerts_test.yml tests alerts.yml", repr(rf))
    # prometheus.yml: the two jobs at their addresses, alerts.yml as a relative rule file
    conf = yaml.safe_load(read(os.path.join(deploy, "prometheus/prometheus.yml")))
    jobs = {s.get("job_name"): [t for sc in s.get("static_configs", []) for t in sc.get("targets", [])]
            for s in conf.get("scrape_configs", [])}
    report(jobs.get("wineqd") == ["127.0.0.1:9696"]
           and jobs.get("wineq-monitor") == ["127.0.0.1:9697"]
           and conf.get("rule_files") == ["alerts.yml"]
           and conf.get("global", {}).get("scrape_interval") == "15s"
           and conf.get("global", {}).get("evaluation_interval") == "15s",
           "prometheus.yml scrapes wineqd and wineq-monitor every 15 s and loads alerts.yml",
           repr((jobs, conf.get("rule_files"), conf.get("global"))))

# -- Grafana provisioning
ds_path = os.path.join(deploy, "grafana/provisioning/datasources/wineq.yml")
db_path = os.path.join(deploy, "grafana/provisioning/dashboards/wineq.yml")
if yaml is not None:
    ds = yaml.safe_load(read(ds_path))
    d = (ds.get("datasources") or [{}])[0]
    report(ds.get("apiVersion") == 1 and d.get("type") == "prometheus"
           and d.get("uid") == "prometheus" and d.get("url") == "http://127.0.0.1:9090",
           "datasource provisioning: Prometheus at http://127.0.0.1:9090, uid prometheus", repr(ds))
    db = yaml.safe_load(read(db_path))
    p = (db.get("providers") or [{}])[0]
    dpath = (p.get("options") or {}).get("path", "")
    report(db.get("apiVersion") == 1 and p.get("type") == "file" and dpath.startswith("/"),
           "dashboard provisioning: a file provider with an absolute path", repr(db))
    readme = read(os.path.join(deploy, "README.md"))
    report(dpath in readme, "deploy/README.md names the dashboards path " + dpath)
else:
    text = read(ds_path)
    report(all(re.search(p, text, re.M) for p in (
        r"^apiVersion:\s*1\s*$", r"^datasources:", r"^\s+type:\s*prometheus\s*$",
        r"^\s+uid:\s*prometheus\s*$", r"^\s+url:\s*http://127\.0\.0\.1:9090\s*$")),
        "datasource provisioning (layout check): Prometheus at 127.0.0.1:9090, uid prometheus")
    text = read(db_path)
    report(all(re.search(p, text, re.M) for p in (
        r"^apiVersion:\s*1\s*$", r"^providers:", r"^\s+type:\s*file\s*$", r"^\s+path:\s*/\S+")),
        "dashboard provisioning (layout check): a file provider with an absolute path")

# -- the list against the sources that export the metrics
wqd = os.path.join(srcdir, "src/server/wqd.c")
if os.path.exists(wqd):
    text = "".join(read(os.path.join(srcdir, "src/server", f))
                   for f in sorted(os.listdir(os.path.join(srcdir, "src/server")))
                   if f.endswith(".c"))
    miss = [n for n, w in exporter.items() if w == "wineqd" and '"%s"' % n not in text]
    report(not miss, "every wineqd metric of the list is registered in src/server/",
           repr(miss))
else:
    skip("wineqd metrics against src/server/wqd.c", "no src/server/wqd.c")
mon = sorted(glob.glob(os.path.join(srcdir, "src/monitor/*.c")))
if mon:
    text = "".join(read(f) for f in mon)
    miss = [n for n, w in exporter.items() if w == "wineq-monitor" and '"%s"' % n not in text]
    report(not miss, "every wineq-monitor metric of the list is registered in src/monitor/",
           repr(miss))
else:
    skip("wineq-monitor metrics against src/monitor/", "no src/monitor/*.c yet")
prom = os.path.join(srcdir, "src/lib/serve/wq_prom.c")
if os.path.exists(prom) and os.path.exists(wqd) and mon:
    text = read(prom)
    miss = [n for n, w in exporter.items() if w == "both" and '"%s"' % n not in text]
    users = [f for f in [wqd] + mon
             if "wq_prom_process_add(" in read(f) and "wq_prom_build_info_add(" in read(f)]
    report(not miss and len(users) == 2,
           "the standard series are registered in src/lib/serve/wq_prom.c, by wineqd and the "
           "monitor", repr((miss, users)))
else:
    skip("standard series against src/lib/serve/wq_prom.c", "sources missing")
PYEOF
py_rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"not_ok "*) not_ok "${line#not_ok }" ;;
	"skip "*) ok "${line#skip }" ;;
	*) echo "$line" >>"$WORK/py.other" ;;
	esac
done <"$WORK/py.out"
if [ "$py_rc" -eq 0 ] && [ ! -s "$WORK/py.other" ]; then
	ok "python checker ran to the end"
else
	not_ok "python checker exited $py_rc"
	[ -f "$WORK/py.other" ] && sed 's/^/    | /' "$WORK/py.other" | tail -n 10
fi

# --- the dashboard's queries are valid PromQL ------------------------------------------------
if [ -s "$WORK/dashboard_rules.yml" ]; then
	expect_exit 0 "promtool check rules on the dashboard's queries" \
		promtool check rules "$WORK/dashboard_rules.yml"
else
	not_ok "the dashboard's queries were not extracted"
fi

# --- a real Prometheus with the replicas configuration, and a global one federating it --------
if command -v prometheus >/dev/null 2>&1; then
	# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
	set -- $(free_ports 4)
	R1=$1 R2=$2 P_SITE=$3 P_GLOBAL=$4
	export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
	# two stand-in replicas: /metrics with a wineq series each
	for port in "$R1" "$R2"; do
		"$PY" - "$port" >/dev/null 2>&1 <<'PYEOF' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'wineq_build_info{version="test"} 1\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PYEOF
		PIDS="$PIDS $!"
	done
	# the deploy files as they are, but for the addresses and a 1 s interval
	mkdir -p "$WORK/site/targets" "$WORK/global"
	sed -e 's/^  scrape_interval: 15s/  scrape_interval: 1s/' -e 's/^  scrape_timeout: 10s/  scrape_timeout: 1s/' \
		-e "s/127.0.0.1:9090/127.0.0.1:$P_SITE/" \
		"$D/prometheus/prometheus-replicas.yml" >"$WORK/site/prometheus.yml"
	cp "$D/prometheus/alerts.yml" "$WORK/site/"
	printf -- '- targets: ["127.0.0.1:%s", "127.0.0.1:%s"]\n' "$R1" "$R2" >"$WORK/site/targets/wineqd.yml"
	sed -e 's/^  scrape_interval: 30s/  scrape_interval: 1s/' -e 's/^  scrape_timeout: 20s/  scrape_timeout: 1s/' \
		-e "s/prometheus.site-1.example:9090/127.0.0.1:$P_SITE/" -e '/prometheus.site-2.example/d' \
		"$D/prometheus/federation.yml" >"$WORK/global/prometheus.yml"
	prometheus --config.file="$WORK/site/prometheus.yml" --storage.tsdb.path="$WORK/site/data" \
		--web.listen-address="127.0.0.1:$P_SITE" >"$WORK/site.log" 2>&1 &
	PIDS="$PIDS $!"
	prometheus --config.file="$WORK/global/prometheus.yml" --storage.tsdb.path="$WORK/global/data" \
		--web.listen-address="127.0.0.1:$P_GLOBAL" >"$WORK/global.log" 2>&1 &
	PIDS="$PIDS $!"
	# prom_is PORT QUERY VALUE: a one-series instant query's value
	prom_is() {
		curl -sf --get --data-urlencode "query=$2" "http://127.0.0.1:$1/api/v1/query" |
			"$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if len(r) == 1 and r[0]["value"][1] == sys.argv[1] else 1)' "$3"
	}
	if wait_for 60 prom_is "$P_SITE" 'count(up{job="wineqd"} == 1)' 2; then
		ok "Prometheus with prometheus-replicas.yml scrapes both replicas of the targets file"
	else
		not_ok "replicas not scraped: $(curl -s "http://127.0.0.1:$P_SITE/api/v1/targets" | head -c 600)"
	fi
	if wait_for 60 prom_is "$P_GLOBAL" 'count(wineq_build_info{job="wineqd", site="site-1"})' 2; then
		ok "the global Prometheus (federation.yml) has both replicas' wineq series, job and site kept"
	else
		not_ok "federation: $(curl -s --get --data-urlencode 'query=wineq_build_info' "http://127.0.0.1:$P_GLOBAL/api/v1/query" | head -c 600)"
	fi
else
	ok "a real Prometheus with the replicas configuration # SKIP prometheus not installed"
fi

finish
