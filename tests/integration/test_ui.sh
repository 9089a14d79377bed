#!/bin/sh
# wineqd's web UI (/ui/) in headless Chromium (Debian's), against a registry filled by a
# 50-trial search and a few promotions: the DOM Chromium builds from each page is checked
# through the UI's DOM markers (tests/integration/ui_dom_check.py) against what the CLI
# reports for the same store: row counts, paging, sorted order and aria-sort, the filter and
# its total, a bad filter's 400 with the parser's message, the column picker, a run's tables,
# chart and artifact downloads (size and SHA-256), the compare highlights and scatter, model
# versions with stages, aliases, the served version and the history, the flow's Gantt bars.
# Names holding markup are shown as text: a run named <script>alert(1)</script> (written to
# the store directly, since the tracking layer refuses '/' in names: a store written by other
# tools may still hold one) and a run and an experiment named with '<', '>', '&' through the
# CLI; no page has a <script> element, an event-handler attribute or an external URL. Every
# answer carries the strict CSP and nosniff; with --loopback-role none the UI needs a READ
# token. Each page is screenshotted and the PNG checked to be non-blank.
#
# Needs: wineqd and wineq-client built, chromium, curl, /usr/bin/python3 (standard library).
# Skips (77) only when chromium is missing; scripts/setup-debian.sh installs it.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
PY=/usr/bin/python3
UI="$PY $WQ_SRCDIR/tests/integration/ui_dom_check.py"
# the red wines: a 50-trial search on them takes seconds
DATA=$WQ_SRCDIR/data/winequality-red.csv
XSS='<script>alert(1)</script>'
IMG='<img src=x onerror=alert(1)>'
ODD_EXP='x<y>&z'

if ! command -v chromium >/dev/null 2>&1; then
	echo "chromium is missing (sh scripts/setup-debian.sh installs it): skipped"
	exit 77
fi
command -v curl >/dev/null 2>&1 || die "curl is missing: run sh scripts/setup-debian.sh"
[ -x "$WINEQD" ] || die "$WINEQD not built"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 4)
P_RPC=$1 P_HTTP=$2 P_RPC2=$3 P_HTTP2=$4
BASE=http://127.0.0.1:$P_HTTP
BASE2=http://127.0.0.1:$P_HTTP2
export W="$WORK"

# --- helpers ---------------------------------------------------------------------------------
# chrome ARGS...: headless Chromium with a profile under $WORK, killed after 60 s
chrome() {
	timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--user-data-dir="$WORK/chrome" "$@"
}
# dom NAME PATH: Chromium's DOM of $BASE$PATH in $WORK/NAME.html, its summary in NAME.json
dom() {
	chrome --dump-dom "$BASE$2" >"$WORK/$1.html" 2>"$WORK/chrome.log" &&
		$UI page "$WORK/$1.html" >"$WORK/$1.json" 2>>"$WORK/chrome.log"
}
# http NAME PATH [CURL ARGS...]: GET $BASE$PATH; body in $WORK/NAME.body, headers in
# $WORK/NAME.hdr, the status printed
http() {
	n=$1 p=$2
	shift 2
	curl -s -o "$WORK/$n.body" -D "$WORK/$n.hdr" -w '%{http_code}' "$@" "$BASE$p"
}
# expect DESCRIPTION PYTHON: the Python statements (asserts) hold, given page(NAME) (the
# summary $WORK/NAME.json), cli(NAME) ($WORK/NAME.cli.json), E(VAR) (an environment
# variable) and num(TEXT)
expect() {
	if "$PY" - "$2" >"$WORK/py.out" 2>&1 <<'PYEOF'; then
import json, os, sys
W = os.environ["W"]
def page(n): return json.load(open(os.path.join(W, n + ".json")))
def cli(n): return json.load(open(os.path.join(W, n + ".cli.json")))
def E(k): return os.environ[k]
def num(s): return float(s)
try:
    exec(sys.argv[1])
except AssertionError as e:
    print(e)
    sys.exit(1)
PYEOF
		ok "$1"
	else
		not_ok "$1: $(tail -c 700 "$WORK/py.out")"
	fi
}
# page_ok NAME WHAT: the page's common properties (one <h1>, no scripts, no external URLs,
# unique ids, the UI's stylesheet)
page_ok() {
	expect "$2: one <h1>, no script, no external URL, unique ids, /ui/style.css" '
j = page("'"$1"'")
assert len(j["h1"]) == 1, "h1: %r" % j["h1"]
assert j["scripts"] == 0 and j["external"] == 0, "scripts %d external %d" % (j["scripts"], j["external"])
assert j["duplicate_ids"] == [], "duplicate ids %r" % j["duplicate_ids"]
assert j["stylesheet"] == ["/ui/style.css"], "stylesheets %r" % j["stylesheet"]'
}
# headers_ok NAME WHAT: $WORK/NAME.hdr has the strict CSP and nosniff
headers_ok() {
	csp=$(grep -i '^Content-Security-Policy:' "$WORK/$1.hdr" | tr -d '\r')
	if echo "$csp" | grep -q "default-src 'none'" && ! echo "$csp" | grep -qiE "script-src|unsafe" &&
		grep -qi '^X-Content-Type-Options: *nosniff' "$WORK/$1.hdr"; then
		ok "$2: CSP default-src 'none' without script-src, nosniff"
	else
		not_ok "$2 headers: $(tr -d '\r' <"$WORK/$1.hdr" | tr '\n' '|')"
	fi
}
# q TEXT: TEXT percent-encoded for a query value
q() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# rel HREF: HREF (from a page under /ui/runs) as a path with its query
rel() { "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(u.urljoin("http://h/ui/runs", sys.argv[1])); print(p.path + ("?" + p.query if p.query else ""))' "$1"; }
# jget FILE EXPR: EXPR evaluated with j = the JSON in FILE, printed
jget() { "$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# --- the registry: a 50-trial search and a few promotions ------------------------------------
expect_exit 0 "train --trials 50 (red wines, two retrained, the best registered as Production)" \
	"$C" train --data "$DATA" --trials 50 --best-k 2 --workers 2 --seed 7 \
	--register wine-quality --promote Production --format json
cp "$WORK/out" "$WORK/search.cli.json"
expect_exit 0 "version 2 from a run named $IMG in experiment $ODD_EXP, to Staging" \
	"$C" train --data "$DATA" --kernel linear --no-probability --C 2 --experiment "$ODD_EXP" \
	--run-name "$IMG" --register wine-quality --promote Staging --format json
IMG_RUN=$(jget "$WORK/out" "j['run_id']")
expect_exit 0 "version 3 to Staging (version 2 is archived)" \
	"$C" train --data "$DATA" --kernel linear --no-probability --C 0.5 --run-name xss-target \
	--register wine-quality --promote Staging --format json
XSS_RUN=$(jget "$WORK/out" "j['run_id']")
expect_exit 0 "alias champion -> 1" "$C" models alias wine-quality champion 1
expect_exit 0 "alias candidate -> 3" "$C" models alias wine-quality candidate 3
expect_exit 0 "alias candidate deleted" "$C" models alias wine-quality candidate --delete
expect_exit 0 "alias next -> 3" "$C" models alias wine-quality next 3
DESC='Wine <b>quality</b> & more'
expect_exit 0 "models describe wine-quality '$DESC'" "$C" models describe wine-quality "$DESC"
# The run name the CLI cannot give, and a metric with a history (train logs one value per
# metric), written as another tool would: straight into the SQLite store.
"$PY" - "$WINEQ_HOME/registry.db" "$XSS_RUN" "$XSS" <<'PYEOF' && ok "the store: run $XSS_RUN renamed to $XSS, a 5-step loss history" || not_ok "sqlite edit"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with db:
    db.execute("UPDATE runs SET name = ? WHERE run_id = ?", (sys.argv[3], sys.argv[2]))
    t0 = db.execute("SELECT start_ms FROM runs WHERE run_id = ?", (sys.argv[2],)).fetchone()[0]
    for step, v in enumerate([1.5, 0.9, 0.7, 0.55, 0.5]):
        db.execute("INSERT INTO metrics(run_id, key, value, step, timestamp_ms) VALUES (?, 'loss', ?, ?, ?)",
                   (sys.argv[2], v, step, t0 + step))
    db.execute("INSERT INTO latest_metrics(run_id, key, value, step, timestamp_ms) VALUES (?, 'loss', 0.5, 4, ?)",
               (sys.argv[2], t0 + 4))
PYEOF

# what the CLI says about the same store
"$C" experiments list --format json >"$WORK/exps.cli.json" || die "experiments list"
"$C" runs list --experiment wine-svm --max-results 1000 --format json >"$WORK/trials.cli.json" || die "runs list"
"$C" runs list --experiment wine-svm --max-results 1000 --filter 'metrics.balanced_accuracy > 0.25' \
	--format json >"$WORK/filtered.cli.json" || die "runs list --filter"
for e in default wine-svm wine-svm-best-models "$ODD_EXP"; do
	"$C" runs list --experiment "$e" --max-results 1000 --format json
done >"$WORK/counts.txt" || die "runs list per experiment"
"$PY" -c '
import json, sys
ds = json.JSONDecoder()
text, pos, out = open(sys.argv[1]).read(), 0, {}
while pos < len(text.rstrip()):
    j, end = ds.raw_decode(text, pos)
    pos = end
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if j["runs"]:
        out[j["runs"][0]["experiment"]] = len(j["runs"])
print(json.dumps(out))' "$WORK/counts.txt" >"$WORK/counts.cli.json" || die "counts"
"$C" models history wine-quality --format json >"$WORK/history.cli.json" || die "models history"
"$C" models versions wine-quality --format json >"$WORK/versions.cli.json" || die "models versions"
"$C" flows list --format json >"$WORK/flows.cli.json" || die "flows list"
FLOW=$(jget "$WORK/search.cli.json" "j['flow_run_id']" 2>/dev/null) || FLOW=""
[ -n "$FLOW" ] || FLOW=$(jget "$WORK/flows.cli.json" "j[0]['id']")
"$C" flows show "$FLOW" --format json >"$WORK/flow.cli.json" || die "flows show"
BEST_RUN=$(jget "$WORK/versions.cli.json" "[v for v in (j['versions'] if isinstance(j, dict) else j) if v['version'] == 1][0]['run_id']")
"$C" runs show "$BEST_RUN" --format json >"$WORK/best.cli.json" || die "runs show best"
"$C" runs show "$XSS_RUN" --format json >"$WORK/xss.cli.json" || die "runs show xss"
"$C" runs list --experiment wine-svm --filter 'metrics.balanced_accuracy >' 2>"$WORK/badfilter.err"
export FLOW BEST_RUN XSS_RUN IMG_RUN XSS IMG ODD_EXP DESC

"$WINEQD" --listen "tcp://127.0.0.1:$P_RPC" --feed none --http "127.0.0.1:$P_HTTP" \
	--model models:/wine-quality/Production --poll 0 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
wait_for 30 "$C" health --server "tcp://127.0.0.1:$P_RPC" && ok "wineqd serves models:/wine-quality/Production" ||
	{
		not_ok "wineqd: $(tail -n 5 "$WORK/wineqd.log")"
		finish
	}

# --- /ui/: experiments -------------------------------------------------------------------------
st=$(curl -s -o /dev/null -D "$WORK/redir.hdr" -w '%{http_code}' "$BASE/ui")
[ "$st" = 308 ] || [ "$st" = 301 ] && grep -qi '^Location: */ui/' "$WORK/redir.hdr" && ok "/ui redirects to /ui/ ($st)" || not_ok "/ui: $st"
[ "$(http exps /ui/)" = 200 ] && ok "GET /ui/: 200" || not_ok "/ui/: $(head -c 300 "$WORK/exps.body")"
headers_ok exps "/ui/"
dom exps /ui/ && ok "Chromium opened /ui/" || not_ok "chromium /ui/: $(tail -n 3 "$WORK/chrome.log")"
page_ok exps "/ui/"
expect "/ui/: one row per experiment with the CLI's run counts, names linking their runs" '
j, counts = page("exps"), cli("counts")
names = sorted(e["name"] for e in cli("exps"))
rows = {e["name"]: e for e in j["experiments"]}
assert sorted(rows) == names, "experiments %r, CLI %r" % (sorted(rows), names)
for n, c in counts.items():
    assert rows[n]["runs"] == c, "%s: %r runs, CLI %d" % (n, rows[n]["runs"], c)
import urllib.parse as u
for n, e in rows.items():
    q = u.parse_qs(u.urlsplit(e["href"]).query)
    assert u.urlsplit(e["href"]).path == "/ui/runs" and q.get("experiment") == [n], "%s links %r" % (n, e["href"])'

# --- /ui/runs: rows, paging, sorting, the filter, columns ------------------------------------
EXP_Q="experiment=wine-svm"
dom runs "/ui/runs?$EXP_Q&max=20" && ok "Chromium opened /ui/runs?experiment=wine-svm&max=20" || not_ok "chromium runs"
page_ok runs "/ui/runs"
expect "runs page 1: 20 rows, total 50, rows 1-20 of 50, a next link, no first link" '
r = page("runs")["runs"]
assert r["total"] == 50, "total %r" % r["total"]
assert len(r["rows"]) == 20, "%d rows" % len(r["rows"])
assert r["next_page"] and not r["first_page"], "next %r first %r" % (r["next_page"], r["first_page"])
assert "1" in r["page_info"] and "20" in r["page_info"] and "50" in r["page_info"], r["page_info"]'
expect "runs page: every row links its run and has a compare checkbox in the compare form" '
r = page("runs")["runs"]
assert r["compare_form_action"] == "/ui/compare", r["compare_form_action"]
assert r["compare_boxes_in_form"] == 20, r["compare_boxes_in_form"]
for row in r["rows"]:
    assert row["href"] == "/ui/runs/" + row["id"] and row["checked_box"] == row["id"], row'
expect "runs page: the filter form (GET /ui/runs) keeps the experiment and max" '
f = page("runs")["runs"]["filter_form"]
assert f["action"] == "/ui/runs" and f["method"].lower() == "get", f
assert f["hidden"].get("experiment") == "wine-svm" and f["hidden"].get("max") == "20", f["hidden"]'
# the keys of the whole experiment: an rbf trial has gamma, a linear one does not
expect "runs page: default columns name, status, start, duration, the 4 metrics and the first 8 params by key of the experiment" '
r = page("runs")["runs"]
cols = [h["col"] for h in r["headers"]]
trials = cli("trials")["runs"]
mkeys = sorted({k for t in trials for k in t["metrics"]})
pkeys = sorted({k for t in trials for k in t["params"]})
want = ["name", "status", "start", "duration"] + ["metrics." + k for k in mkeys[:8]] + ["params." + k for k in pkeys[:8]]
assert sorted(cols) == sorted(want), "columns %r, expected %r" % (cols, want)
assert cols[:4] == ["name", "status", "start", "duration"], cols
assert all(row["cells"].keys() >= set(want) for row in r["rows"]), "cells missing"'
expect "runs page: metric cells carry the shortest round-trip value the CLI reports" '
r, runs = page("runs")["runs"], {x["run_id"]: x for x in cli("trials")["runs"]}
for row in r["rows"]:
    for k, v in runs[row["id"]]["metrics"].items():
        c = row["cells"]["metrics." + k]
        assert float(c["value"]) == v and c["value"] == repr(v), "%s %s: %r vs %r" % (row["id"], k, c["value"], v)
    assert row["cells"]["name"]["text"] == runs[row["id"]]["run_name"], row["cells"]["name"]'
expect "runs page: the column picker lists every param, metric and tag key, the shown ones checked" '
r = page("runs")["runs"]
t = cli("trials")["runs"]
keys = set()
for x in t:
    keys |= {"params." + k for k in x["params"]} | {"metrics." + k for k in x["metrics"]} | {"tags." + k for k in x["tags"]}
boxes = {c["value"]: c["checked"] for c in r["columns"]}
assert r["columns_form_action"] == "/ui/runs", r["columns_form_action"]
assert set(boxes) >= keys, "missing %r" % sorted(keys - set(boxes))
shown = {h["col"] for h in r["headers"]}
assert all(boxes[k] == (k in shown) for k in boxes if k in keys), boxes'
expect "runs page: every column header links a sort by that column, keeping the experiment" '
import urllib.parse as u
attr = {"name": "attributes.run_name", "status": "attributes.status", "start": "attributes.start_time", "duration": "attributes.duration"}
for h in page("runs")["runs"]["headers"]:
    q = u.parse_qs(u.urlsplit(h["href"] or "").query)
    assert u.urlsplit(h["href"]).path == "/ui/runs" and q.get("experiment") == ["wine-svm"], h
    assert q.get("order_by") and q["order_by"][0].split()[0] == attr.get(h["col"], h["col"]), h'
# page 2 and 3 through the next links; together the 50 trial runs, each once
n2=$(jget "$WORK/runs.json" "j['runs']['next_page']")
dom runs2 "$(rel "$n2")" || not_ok "chromium runs page 2"
n3=$(jget "$WORK/runs2.json" "j['runs']['next_page']")
dom runs3 "$(rel "$n3")" || not_ok "chromium runs page 3"
expect "runs pages 2 and 3 (next links): 20 and 10 rows, first links, no next on the last; the 3 pages hold the 50 trials once each" '
a, b, c = page("runs")["runs"], page("runs2")["runs"], page("runs3")["runs"]
assert len(b["rows"]) == 20 and len(c["rows"]) == 10, (len(b["rows"]), len(c["rows"]))
assert b["first_page"] and c["first_page"] and b["next_page"] and not c["next_page"], (b["first_page"], c["next_page"])
assert "21" in b["page_info"] and "41" in c["page_info"] and "50" in c["page_info"], (b["page_info"], c["page_info"])
ids = [r["id"] for p in (a, b, c) for r in p["rows"]]
want = sorted(x["run_id"] for x in cli("trials")["runs"])
assert len(ids) == 50 and sorted(ids) == want, "%d ids, %d distinct" % (len(ids), len(set(ids)))'
f3=$(jget "$WORK/runs3.json" "j['runs']['first_page']")
dom runs1 "$(rel "$f3")" || not_ok "chromium first page"
expect "the last page's first link leads back to page 1" '
assert [r["id"] for r in page("runs1")["runs"]["rows"]] == [r["id"] for r in page("runs")["runs"]["rows"]], "other rows"'
dom runsall "/ui/runs?$EXP_Q&max=500" || not_ok "chromium max=500"
expect "max=500: all 50 rows on one page, no next link" '
r = page("runsall")["runs"]
assert len(r["rows"]) == 50 and not r["next_page"], (len(r["rows"]), r["next_page"])'

# sorting: by balanced accuracy descending, then the header link flips it
dom sortd "/ui/runs?$EXP_Q&max=50&order_by=$(q 'metrics.balanced_accuracy DESC')" || not_ok "chromium sort"
expect "order_by=metrics.balanced_accuracy DESC: data-values descending, as the CLI's values, aria-sort=descending" '
r = page("sortd")["runs"]
v = [float(x["cells"]["metrics.balanced_accuracy"]["value"]) for x in r["rows"]]
assert len(v) == 50 and v == sorted(v, reverse=True), v
assert v == sorted((x["metrics"]["balanced_accuracy"] for x in cli("trials")["runs"]), reverse=True), "values differ from the CLI"
h = {x["col"]: x for x in r["headers"]}
assert h["metrics.balanced_accuracy"]["sort"] == "descending", h["metrics.balanced_accuracy"]
assert all(x["sort"] is None for k, x in h.items() if k != "metrics.balanced_accuracy"), "another column has aria-sort"'
flip=$(jget "$WORK/sortd.json" "[h for h in j['runs']['headers'] if h['col'] == 'metrics.balanced_accuracy'][0]['href']")
dom sorta "$(rel "$flip")" || not_ok "chromium sort flip"
expect "its header link sorts ascending: data-values ascending, aria-sort=ascending" '
r = page("sorta")["runs"]
v = [float(x["cells"]["metrics.balanced_accuracy"]["value"]) for x in r["rows"]]
assert len(v) == 50 and v == sorted(v), v
h = [x for x in r["headers"] if x["col"] == "metrics.balanced_accuracy"][0]
assert h["sort"] == "ascending", h'
stime=$(jget "$WORK/runs.json" "[h for h in j['runs']['headers'] if h['col'] == 'start'][0]['href']")
dom sorts "$(rel "$stime")" || not_ok "chromium sort by start"
expect "the start header sorts by start time (one direction or the other, with aria-sort)" '
r = page("sorts")["runs"]
st = {x["run_id"]: x["start_time_ms"] for x in cli("trials")["runs"]}
v = [st[x["id"]] for x in r["rows"]]
h = [x for x in r["headers"] if x["col"] == "start"][0]
assert h["sort"] in ("ascending", "descending"), h
assert v == sorted(v, reverse=h["sort"] == "descending"), v'

# the filter
FILTER='metrics.balanced_accuracy > 0.25'
export FILTER
dom filt "/ui/runs?$EXP_Q&max=500&filter=$(q "$FILTER")" || not_ok "chromium filter"
expect "filter $FILTER: only matching rows, the CLI's runs, #run-total = their count, the form keeps the filter" '
r = page("filt")["runs"]
want = sorted(x["run_id"] for x in cli("filtered")["runs"])
assert 0 < len(want) < 50, "pick another threshold: %d runs match" % len(want)
assert sorted(x["id"] for x in r["rows"]) == want, "rows differ from the CLI"
assert all(float(x["cells"]["metrics.balanced_accuracy"]["value"]) > 0.25 for x in r["rows"]), "a row does not match"
assert r["total"] == len(want), (r["total"], len(want))
assert r["filter_form"]["filter"] == E("FILTER"), r["filter_form"]'
dom filtp "/ui/runs?$EXP_Q&max=5&filter=$(q "$FILTER")" || not_ok "chromium filter paged"
expect "the filter with max=5: 5 rows, #run-total still all matching runs, a next link keeping the filter" '
import urllib.parse as u
r = page("filtp")["runs"]
n = len(cli("filtered")["runs"])
assert r["total"] == n and len(r["rows"]) == min(5, n), (r["total"], len(r["rows"]))
if n > 5:
    assert u.parse_qs(u.urlsplit(r["next_page"]).query).get("filter") == [E("FILTER")], r["next_page"]'
st=$(http bad "/ui/runs?$EXP_Q&filter=$(q 'metrics.balanced_accuracy >')")
[ "$st" = 400 ] && ok "a bad filter: 400" || not_ok "bad filter: status $st"
headers_ok bad "the 400 page"
$UI page "$WORK/bad.body" >"$WORK/bad.json" 2>&1 || not_ok "parse the 400 page"
page_ok bad "the 400 page"
BADMSG=$(cat "$WORK/badfilter.err")
export BADMSG
expect "... its #error holds the parser's message, as runs list prints it" '
e = page("bad")["error"]
assert e and e in " ".join(E("BADMSG").split()) and "character" in e, "page %r, CLI %r" % (e, E("BADMSG"))'
st=$(http badx "/ui/runs?$EXP_Q&filter=$(q "$XSS")")
$UI page "$WORK/badx.body" >"$WORK/badx.json" 2>&1
[ "$st" = 400 ] && ! grep -qi '<script' "$WORK/badx.body" && [ -n "$(jget "$WORK/badx.json" "j['error'] or ''")" ] &&
	ok "a filter of $XSS: 400 with #error, no <script> in the page" || not_ok "xss filter: $st $(grep -i -m 3 'script' "$WORK/badx.body")"
st=$(http badexp "/ui/runs?experiment=$(q "$XSS")")
[ "$st" = 404 ] || [ "$st" = 400 ] && ! grep -qi '<script' "$WORK/badexp.body" &&
	ok "an unknown experiment named $XSS: $st, no <script> in the page" || not_ok "unknown experiment: $st $(head -c 300 "$WORK/badexp.body")"

# columns
dom cols "/ui/runs?$EXP_Q&max=50&cols=$(q 'params.trial,metrics.balanced_accuracy')" || not_ok "chromium cols"
expect "cols=params.trial,metrics.balanced_accuracy: both shown, trial cells = the CLI's trial param, its box checked" '
r = page("cols")["runs"]
cols = [h["col"] for h in r["headers"]]
assert "params.trial" in cols and "metrics.balanced_accuracy" in cols and "name" in cols, cols
t = {x["run_id"]: x["params"]["trial"] for x in cli("trials")["runs"]}
assert all(x["cells"]["params.trial"]["text"] == t[x["id"]] for x in r["rows"]), "trial cells"
assert {c["value"]: c["checked"] for c in r["columns"]}["params.trial"] is True, "box not checked"'
dom cols2 "/ui/runs?$EXP_Q&max=50&col=params.trial&col=tags.wineq.flow_run_id" || not_ok "chromium col="
expect "repeated col=params.trial&col=tags.wineq.flow_run_id (the picker form): both shown" '
r = page("cols2")["runs"]
cols = [h["col"] for h in r["headers"]]
assert "params.trial" in cols and "tags.wineq.flow_run_id" in cols, cols
assert all(x["cells"]["tags.wineq.flow_run_id"]["text"] == E("FLOW") for x in r["rows"]), "tag cells"'
expect "the default page does not show params.trial (so the picker added it)" '
assert "params.trial" not in [h["col"] for h in page("runs")["runs"]["headers"]]'

dom odd "/ui/runs?experiment=$(q "$ODD_EXP")" || not_ok "chromium odd experiment"
expect "the runs of experiment $ODD_EXP: its one run, named $IMG as text, the form keeping the name" '
j = page("odd")
r = j["runs"]
assert r["total"] == 1 and [x["id"] for x in r["rows"]] == [E("IMG_RUN")], (r["total"], r["rows"])
assert r["rows"][0]["cells"]["name"]["text"] == E("IMG") and j["scripts"] == 0, r["rows"][0]["cells"]["name"]
assert r["filter_form"]["hidden"].get("experiment") == E("ODD_EXP"), r["filter_form"]'

# --- /ui/runs/ID ------------------------------------------------------------------------------
[ "$(http xss "/ui/runs/$XSS_RUN")" = 200 ] && ok "GET /ui/runs/$XSS_RUN: 200" || not_ok "run page: $(head -c 300 "$WORK/xss.body")"
headers_ok xss "the run page"
dom xss "/ui/runs/$XSS_RUN" || not_ok "chromium run page"
page_ok xss "the run page"
expect "the run named $XSS: its name is the <h1> text, #run-id its id" '
r = page("xss")["run"]
assert r["name"] == E("XSS") and page("xss")["h1"] == [E("XSS")], (r["name"], page("xss")["h1"])
assert r["id"] == E("XSS_RUN"), r["id"]'
grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$WORK/xss.html" && ok "the dumped DOM holds &lt;script&gt;alert(1)&lt;/script&gt; as text" ||
	not_ok "escaped name not in the DOM"
expect "the run page: params, metrics (latest values) and tags as the CLI shows them" '
r, c = page("xss")["run"], cli("xss")
assert r["params"] == c["params"], "params %r vs %r" % (r["params"], c["params"])
assert set(r["metrics"]) == set(c["metrics"]), (sorted(r["metrics"]), sorted(c["metrics"]))
assert all(float(r["metrics"][k]) == v for k, v in c["metrics"].items()), r["metrics"]
assert set(r["tags"]) == set(c["tags"]), (sorted(r["tags"]), sorted(c["tags"]))'
expect "the run page: a chart for loss (5 values), none for single-valued metrics" '
ch = page("xss")["run"]["charts"]
ids = [c["id"] for c in ch]
assert ids == ["chart-loss"], ids
assert ch[0]["points"] == 5 and ch[0]["series"] >= 1, ch[0]'
expect "the run page: the artifacts the CLI lists, each linking /ui/artifacts/ID/PATH" '
a, c = page("xss")["run"]["artifacts"], cli("xss")["artifacts"]
assert sorted((x["path"], x["size"], x["sha256"]) for x in a) == sorted((x["path"], x["size"], x["sha256"]) for x in c), (a, c)
assert all(x["href"] == "/ui/artifacts/" + E("XSS_RUN") + "/" + x["path"] for x in a), [x["href"] for x in a]'
jget "$WORK/xss.json" "'\n'.join('%s %d %s' % (a['href'], a['size'], a['sha256']) for a in j['run']['artifacts'])" >"$WORK/arts.txt"
nart=0 badart=""
while read -r href size sha; do
	nart=$((nart + 1))
	st=$(curl -s -o "$WORK/art" -D "$WORK/art.hdr" -w '%{http_code}' "$BASE$href")
	got=$(wc -c <"$WORK/art" | tr -d ' ')
	gsha=$(sha256sum "$WORK/art" | cut -d' ' -f1)
	[ "$st" = 200 ] && [ "$got" = "$size" ] && [ "$gsha" = "$sha" ] &&
		grep -qi '^Content-Disposition: *attachment' "$WORK/art.hdr" &&
		grep -qi '^X-Content-Type-Options: *nosniff' "$WORK/art.hdr" || badart="$badart $href($st,$got)"
done <"$WORK/arts.txt"
[ "$nart" -gt 2 ] && [ -z "$badart" ] && ok "all $nart artifact links download (200, attachment, nosniff) with the listed size and SHA-256" ||
	not_ok "artifact downloads ($nart):$badart"
st=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$BASE/ui/artifacts/$XSS_RUN/../../../../etc/passwd")
[ "$st" = 400 ] || [ "$st" = 404 ] && ok "an artifact path with .. is refused ($st)" || not_ok "traversal: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/artifacts/$XSS_RUN/model/no-such-file")
[ "$st" = 404 ] && ok "a missing artifact: 404" || not_ok "missing artifact: $st"
dom best "/ui/runs/$BEST_RUN" || not_ok "chromium best run"
page_ok best "the best model's run page"
expect "the best run: #flow-link to its flow run, #model-versions names wine-quality version 1" '
r = page("best")["run"]
assert r["flow_link"] == "/ui/flows/" + E("FLOW"), r["flow_link"]
mv = r["model_versions"]
assert len(mv) == 1 and mv[0]["href"].split("#")[0] == "/ui/models/wine-quality" and "wine-quality" in mv[0]["text"] and "1" in mv[0]["text"], mv'
dom img "/ui/runs/$IMG_RUN" || not_ok "chromium img run"
expect "the run named $IMG: its name as text, no <img> element, no handler" '
j = page("img")
assert j["run"]["name"] == E("IMG") and j["scripts"] == 0, (j["run"]["name"], j["scripts"])'
grep -qi '<img' "$WORK/img.html" && not_ok "an <img> element in the DOM" || ok "no <img> element in the DOM of that page"
st=$(http norun /ui/runs/0123456789abcdef0123456789abcdef)
$UI page "$WORK/norun.body" >"$WORK/norun.json" 2>&1
[ "$st" = 404 ] && [ -n "$(jget "$WORK/norun.json" "j['error'] or ''")" ] && ok "an unknown run: 404 with #error" || not_ok "unknown run: $st"

# --- /ui/compare -------------------------------------------------------------------------------
# three trials: one of each kernel where possible, C different by construction of the search
"$PY" - "$WORK/trials.cli.json" >"$WORK/three.txt" <<'PYEOF'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
pick, seen = [], set()
for r in sorted(runs, key=lambda r: int(r["params"]["trial"])):
    if r["params"]["kernel"] not in seen:
        seen.add(r["params"]["kernel"])
        pick.append(r["run_id"])
for r in runs:
    if len(pick) < 3 and r["run_id"] not in pick:
        pick.append(r["run_id"])
print(",".join(pick[:3]))
PYEOF
THREE=$(cat "$WORK/three.txt")
export THREE
[ "$(http cmp "/ui/compare?runs=$THREE")" = 200 ] && ok "GET /ui/compare of 3 runs: 200" || not_ok "compare: $(head -c 300 "$WORK/cmp.body")"
headers_ok cmp "the compare page"
dom cmp "/ui/compare?runs=$THREE" || not_ok "chromium compare"
page_ok cmp "the compare page"
expect "compare: a column per run; .differs exactly on the params and metrics whose values differ" '
c = page("cmp")["compare"]
ids = E("THREE").split(",")
assert c["runs"] == ids, c["runs"]
runs = {x["run_id"]: x for x in cli("trials")["runs"]}
rows = {r["key"]: r for r in c["rows"]}
for kind in ("params", "metrics"):
    keys = set().union(*(runs[i][kind] for i in ids))
    for k in keys:
        vals = [runs[i][kind].get(k) for i in ids]
        r = rows["%s.%s" % (kind, k)]
        assert r["differs"] == (len(set(vals)) > 1), "%s.%s %r: differs=%r" % (kind, k, vals, r["differs"])
        assert (r["diff_cells"] > 0) == r["differs"], r
assert rows["params.C"]["differs"] and not rows["params.data_file"]["differs"] and not rows["params.seed"]["differs"], "C/data_file/seed"'
expect "compare scatter: x params.C, y metrics.balanced_accuracy, colour params.kernel, one point per run at its values" '
s = page("cmp")["compare"]["scatter"]
runs = {x["run_id"]: x for x in cli("trials")["runs"]}
assert (s["x"], s["y"], s["color"]) == ("params.C", "metrics.balanced_accuracy", "params.kernel"), s
pts = {p["run_id"]: p for p in s["points"]}
assert sorted(pts) == sorted(E("THREE").split(",")) and len(s["points"]) == 3, s["points"]
for i, p in pts.items():
    assert p["x"] == float(runs[i]["params"]["C"]) and p["y"] == runs[i]["metrics"]["balanced_accuracy"], (p, runs[i]["params"]["C"])
    assert p["group"] == runs[i]["params"]["kernel"], p
xs = [p["x"] for p in s["points"]]
assert (s["scale"] == "log") == (min(xs) > 0 and max(xs) / min(xs) > 100), (s["scale"], xs)
a = page("cmp")["compare"]["axes"]
assert "params.C" in a.get("x", []) and "metrics.balanced_accuracy" in a.get("y", []), a'
ALLIDS=$(jget "$WORK/trials.cli.json" "','.join(r['run_id'] for r in j['runs'])")
export ALLIDS
dom cmpr "/ui/compare?runs=$(echo "$THREE" | sed 's/,/\&runs=/g')" || not_ok "chromium compare repeated"
expect "compare with repeated runs=ID (the compare form): the same 3 runs" '
assert page("cmpr")["compare"]["runs"] == E("THREE").split(","), page("cmpr")["compare"]["runs"]'
T21=$(echo "$ALLIDS" | cut -d, -f1-21)
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/compare?runs=$T21")
[ "$st" = 400 ] && ok "compare of 21 runs: 400" || not_ok "compare of 21: $st"
dom cmpa "/ui/compare?runs=$(echo "$ALLIDS" | cut -d, -f1-20)&x=params.gamma&color=params.class_weight" || not_ok "chromium compare 20"
expect "compare of 20 runs with x=params.gamma, color=params.class_weight: one point per run with a gamma" '
s = page("cmpa")["compare"]["scatter"]
runs = {x["run_id"]: x for x in cli("trials")["runs"]}
ids = [i for i in E("ALLIDS").split(",")[:20]]
want = sorted(i for i in ids if "gamma" in runs[i]["params"])
assert s["x"] == "params.gamma" and s["color"] == "params.class_weight", s
assert sorted(p["run_id"] for p in s["points"]) == want, (len(s["points"]), len(want))'

# --- /ui/models, /ui/models/NAME --------------------------------------------------------------
dom models /ui/models || not_ok "chromium models"
page_ok models "/ui/models"
expect "/ui/models: wine-quality, linking /ui/models/wine-quality" '
m = page("models")["models"]
assert [x["name"] for x in m] == ["wine-quality"] and m[0]["href"] == "/ui/models/wine-quality", m'
[ "$(http model /ui/models/wine-quality)" = 200 ] && ok "GET /ui/models/wine-quality: 200" || not_ok "model page: $(head -c 300 "$WORK/model.body")"
headers_ok model "the model page"
dom model /ui/models/wine-quality || not_ok "chromium model"
page_ok model "the model page"
expect "model page: versions newest first with data-stage Production/Archived/Staging as the CLI, aliases, source runs" '
m = page("model")["model"]
vs = cli("versions")
vs = vs["versions"] if isinstance(vs, dict) else vs
assert m["name"] == "wine-quality", m["name"]
assert [v["version"] for v in m["versions"]] == ["3", "2", "1"], [v["version"] for v in m["versions"]]
stage = {str(v["version"]): v for v in vs}
for v in m["versions"]:
    assert v["stage"] == stage[v["version"]]["current_stage" if "current_stage" in stage[v["version"]] else "stage"], (v, stage[v["version"]])
    assert v["id"] == "v-" + v["version"], v["id"]
    assert v["run_href"] == "/ui/runs/" + stage[v["version"]]["run_id"], (v["run_href"], stage[v["version"]]["run_id"])
st = {v["version"]: v["stage"] for v in m["versions"]}
assert st == {"1": "Production", "2": "Archived", "3": "Staging"}, st
al = {v["version"]: v["aliases"] for v in m["versions"]}
assert al == {"1": ["champion"], "2": [], "3": ["next"]}, al'
expect "model page: #model-description shows $DESC as text" '
m = page("model")["model"]
assert m["description"] == E("DESC"), m["description"]'
grep -q '&lt;b&gt;quality&lt;/b&gt;' "$WORK/model.html" && ok "... escaped in the DOM" || not_ok "description not escaped"
expect "model page: #served says version 1 and links #v-1; only that row has class served" '
m = page("model")["model"]
assert m["served"] and "1" in m["served"]["text"] and m["served"]["href"] == "#v-1", m["served"]
assert [v["version"] for v in m["versions"] if v["served"]] == ["1"], [v["served"] for v in m["versions"]]'
expect "model page: the history oldest first, the same events as models history, and a timeline circle each" '
m = page("model")["model"]
h = cli("history")
want = [(e["kind"], str(e["version"])) for e in h]
got = [(e["kind"], e["version"]) for e in m["history"]]
assert got == want, "page %r, CLI %r" % (got, want)
assert ("alias-delete", "3") in got and got[0] == ("create", "1"), got
assert m["timeline_events"] == len(want), (m["timeline_events"], len(want))'
grep -qi '<script' "$WORK/model.html" && not_ok "a <script> element on the model page" || ok "the model page (source run $XSS) has no <script> element"
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/models/no-such-model")
[ "$st" = 404 ] && ok "an unknown model: 404" || not_ok "unknown model: $st"

# --- /ui/flows, /ui/flows/ID --------------------------------------------------------------------
dom flows /ui/flows || not_ok "chromium flows"
page_ok flows "/ui/flows"
expect "/ui/flows: the CLI's flow runs with their states, linking /ui/flows/ID" '
f = page("flows")["flows"]
c = cli("flows")
c = c["flows"] if isinstance(c, dict) else c
assert sorted((x["id"], x["state"]) for x in f) == sorted((x["id"], x["state"]) for x in c), (f, [(x["id"], x["state"]) for x in c])
assert all(x["href"] == "/ui/flows/" + x["id"] for x in f), f'
[ "$(http flow "/ui/flows/$FLOW")" = 200 ] && ok "GET /ui/flows/$FLOW: 200" || not_ok "flow page: $(head -c 300 "$WORK/flow.body")"
headers_ok flow "the flow page"
dom flow "/ui/flows/$FLOW" || not_ok "chromium flow"
page_ok flow "the flow page"
expect "flow page: one Gantt bar per started task, with its state, attempts and times" '
f, c = page("flow")["flow"], cli("flow")
assert f["id"] == E("FLOW"), f["id"]
started = [t for t in c["tasks"] if t.get("start_ms")]
assert len(started) == 6, [t["name"] for t in started]
bars = {b["task"]: b for b in f["bars"]}
assert len(f["bars"]) == len(started) and sorted(bars) == sorted(t["name"] for t in started), sorted(bars)
for t in started:
    b = bars[t["name"]]
    assert b["state"] == t["state"] and b["attempts"] == t["attempts"], (b, t["state"], t["attempts"])
    assert b["start_ms"] == t["start_ms"] and b["end_ms"] == t["end_ms"], (b, t["start_ms"], t["end_ms"])
    assert b["width"] is not None and b["width"] > 0, b
assert all(t["name"] in f["bar_labels"] for t in started), f["bar_labels"]'
expect "flow page: bars left to right in start order, one row each, wider for longer tasks" '
bars = page("flow")["flow"]["bars"]
by_start = sorted(bars, key=lambda b: (b["start_ms"], b["end_ms"]))
xs = [b["x"] for b in by_start]
assert xs == sorted(xs), [(b["task"], b["start_ms"], b["x"]) for b in by_start]
assert len({b["y"] for b in bars}) == len(bars), "rows share a y"
span = max(b["end_ms"] for b in bars) - min(b["start_ms"] for b in bars)
for a in bars:
    for b in bars:
        da, db = a["end_ms"] - a["start_ms"], b["end_ms"] - b["start_ms"]
        if da > db + 0.05 * span:
            assert a["width"] > b["width"], (a, b)
s = [b for b in bars if b["task"] == "search"][0]
assert s["x"] > min(b["x"] for b in bars), "search starts after prepare-data"'
expect "flow page: the tasks table and the log as the CLI shows them" '
f, c = page("flow")["flow"], cli("flow")
assert [(t["task"], t["state"], t["attempts"]) for t in f["tasks"]] == [(t["name"], t["state"], t["attempts"]) for t in c["tasks"]], f["tasks"]
lines = [l for t in c["tasks"] for l in t["log"]]
text = "\n".join(f["log"])
assert lines and all(" ".join(l.split()) in " ".join(text.split()) for l in lines), (lines[:2], f["log"][:2])'
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/flows/0123456789abcdef0123456789abcdef")
[ "$st" = 404 ] && ok "an unknown flow: 404" || not_ok "unknown flow: $st"

# --- every page: no <script>, headers, the stylesheet, screenshots ------------------------------
for n in exps runs runs2 runs3 runsall sortd sorta sorts filt filtp cols cols2 odd xss best img cmp cmpr cmpa models model flows flow; do
	grep -qi '<script' "$WORK/$n.html" && echo "$n"
done >"$WORK/withscript.txt"
[ ! -s "$WORK/withscript.txt" ] && ok "no <script> element in the DOM of any of the 23 pages" || not_ok "<script> in: $(cat "$WORK/withscript.txt")"
[ "$(http css /ui/style.css)" = 200 ] && grep -qi '^Content-Type: *text/css' "$WORK/css.hdr" && [ -s "$WORK/css.body" ] &&
	ok "/ui/style.css: 200 text/css" || not_ok "style.css: $(tr -d '\r' <"$WORK/css.hdr" | tr '\n' '|')"
headers_ok css "/ui/style.css"
st=$(http nopage /ui/no-such-page)
[ "$st" = 404 ] && ok "an unknown page: 404" || not_ok "unknown page: $st"
headers_ok nopage "the 404 page"

shots=0 blank=""
for p in "/ui/" "/ui/runs?$EXP_Q" "/ui/runs/$XSS_RUN" "/ui/compare?runs=$THREE" "/ui/models" \
	"/ui/models/wine-quality" "/ui/flows" "/ui/flows/$FLOW"; do
	shots=$((shots + 1))
	png=$WORK/shot$shots.png
	chrome --screenshot="$png" --window-size=1280,900 "$BASE$p" >"$WORK/chrome.log" 2>&1
	if $UI png "$png" >"$WORK/png.json" 2>&1 &&
		"$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if j["width"] == 1280 and j["colours"] >= 400 and j["major_colours"] >= 4 and j["non_background"] >= 0.04 else 1)' "$WORK/png.json"; then
		:
	else
		blank="$blank $p: $(cat "$WORK/png.json")"
	fi
done
[ -z "$blank" ] && ok "$shots screenshots (1280x900), none blank (400+ colours, 4+ on 0.1% of the pixels each, 4%+ off the background; plain text gives ~250, 3, 2%)" ||
	not_ok "blank screenshots:$blank"

# --- the READ role -------------------------------------------------------------------------------
expect_exit 0 "tokens create viewer --role read" "$C" tokens create viewer --role read
T_READ=$(cat "$WORK/out")
expect_exit 0 "tokens create caller --role predict" "$C" tokens create caller --role predict
T_PRED=$(cat "$WORK/out")
"$WINEQD" --listen "tcp://127.0.0.1:$P_RPC2" --feed none --http "127.0.0.1:$P_HTTP2" \
	--model models:/wine-quality/Production --poll 0 --loopback-role none 2>"$WORK/wineqd2.log" &
PIDS="$PIDS $!"
wait_for 30 curl -s -o /dev/null "$BASE2/healthz" || wait_for 10 curl -s -o /dev/null "$BASE2/ui/" || not_ok "second wineqd: $(tail -n 3 "$WORK/wineqd2.log")"
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE2/ui/")
[ "$st" = 401 ] && ok "--loopback-role none: /ui/ without a token is 401" || not_ok "no token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE2/ui/runs/$XSS_RUN")
[ "$st" = 401 ] && ok "... /ui/runs/ID without a token is 401" || not_ok "no token run page: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T_PRED" "$BASE2/ui/")
[ "$st" = 403 ] && ok "... with a PREDICT token: 403" || not_ok "predict token: $st"
st=$(curl -s -o "$WORK/auth.body" -w '%{http_code}' -H "Authorization: Bearer $T_READ" "$BASE2/ui/")
[ "$st" = 200 ] && grep -q 'id="experiments"' "$WORK/auth.body" && ok "... with a READ token: 200, the experiments page" || not_ok "read token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T_READ" "$BASE2/ui/artifacts/$XSS_RUN/model/MANIFEST.json")
[ "$st" = 200 ] && ok "... an artifact with a READ token: 200" || not_ok "artifact read token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' "$BASE2/ui/artifacts/$XSS_RUN/model/MANIFEST.json")
[ "$st" = 401 ] && ok "... an artifact without a token: 401" || not_ok "artifact no token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/ui/")
[ "$st" = 405 ] || [ "$st" = 404 ] || [ "$st" = 400 ] && ok "POST /ui/ is refused ($st)" || not_ok "POST /ui/: $st"

finish
