#!/bin/sh
# The Kubernetes example (deploy/kubernetes/*.yaml, docs/CONTAINERS.md) matches the images
# scripts/oci-image.sh builds and the daemons they run: the manifests parse; container ports
# are the image's exposed ports and the ports of the address variables; every environment
# variable is one the image's entry point maps to a flag (each flag one the binary's --help
# lists) or one the binary reads itself, and variables the image also sets keep its values;
# probe paths are GET routes of the daemon's HTTP route table; the pod runs as the image's
# user with a read-only root and emptyDir volumes for WINEQ_HOME and /tmp; the grace period
# outlasts wineqd's drain; the Services select the pods and target named ports; the monitor's
# feed is the wineqd Service's feed port.
#
# Needs umoci (the images are built, as layout directories: no root needed) and python3-yaml;
# skipped (77) without them.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WQD=$WQ_BUILDDIR/src/server/wineqd
MON=$WQ_BUILDDIR/src/monitor/wineq-monitor
CLIENT=$WQ_BUILDDIR/src/client/wineq-client
PY=/usr/bin/python3
K8S=$WQ_SRCDIR/deploy/kubernetes

command -v umoci >/dev/null 2>&1 || {
	echo "# SKIP: umoci is missing (sh scripts/setup-debian.sh)"
	exit 77
}
"$PY" -c 'import yaml' 2>/dev/null || {
	echo "# SKIP: python3-yaml is missing"
	exit 77
}
[ -x /bin/busybox ] || {
	echo "# SKIP: /bin/busybox is missing (busybox-static)"
	exit 77
}
for b in "$WQD" "$MON" "$CLIENT"; do
	[ -x "$b" ] || die "$b is missing: build first"
done

"$CLIENT" train --no-track --data "$WQ_SRCDIR/data/winequality-white.csv" --bundle "$WORK/model" \
	>/dev/null 2>"$WORK/train.err" || die "training failed: $(head -n 3 "$WORK/train.err")"
expect_exit 0 "oci-image.sh wineqd" \
	sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$WQD" "$WORK/wineqd"
expect_exit 0 "oci-image.sh wineq-monitor" \
	sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$MON" "$WORK/wineq-monitor"
"$WQD" --help >"$WORK/wineqd.help" 2>&1
"$MON" serve --help >"$WORK/wineq-monitor.help" 2>&1

"$PY" - "$WQ_SRCDIR" "$K8S" "$WORK" >"$WORK/py.out" 2>&1 <<'PYEOF'
import gzip, io, json, os, re, sys, tarfile
import yaml

src, k8s, work = sys.argv[1:4]


def check(cond, what):
    print(("ok " if cond else "not_ok ") + what)
    return cond


def image(name):
    """The image's config and its entry point script."""
    layout = os.path.join(work, name)
    blob = lambda d: os.path.join(layout, "blobs", *d.split(":"))
    index = json.load(open(os.path.join(layout, "index.json")))
    man = json.load(open(blob(index["manifests"][0]["digest"])))
    cfg = json.load(open(blob(man["config"]["digest"])))["config"]
    with tarfile.open(fileobj=io.BytesIO(gzip.open(blob(man["layers"][0]["digest"])).read())) as t:
        entry = t.extractfile("usr/bin/wineq-entrypoint").read().decode()
    return cfg, entry


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def get_routes(path):
    return set(re.findall(r'\{"(/[^"]*)",\s*WQ_HTTPD_GET', open(path).read()))


# variables the binaries read themselves (the registry's location, WINEQ_HOME)
native = set(re.findall(r'"(WINEQ_[A-Z0-9_]+)"', open(os.path.join(src, "src/lib/track/wq_config.c")).read()))
check({"WINEQ_HOME", "WINEQ_TRACKING_URI"} <= native, "variables read natively: %s" % sorted(native))

docs = {}
for fname in ("wineqd.yaml", "wineq-monitor.yaml"):
    try:
        for d in yaml.safe_load_all(open(os.path.join(k8s, fname))):
            if d:
                docs[(fname, d["kind"], d["metadata"]["name"])] = d
        check(True, fname + " parses")
    except Exception as e:
        check(False, "%s does not parse: %s" % (fname, e))

services = {k[2]: d for k, d in docs.items() if k[1] == "Service"}


def one(fname, name, routes_file, want_ports, replicas):
    cfg, entry = image(name)
    dep = docs.get((fname, "Deployment", name))
    svc = docs.get((fname, "Service", name))
    if not check(dep is not None and svc is not None, "%s: a Deployment and a Service %s" % (fname, name)):
        return
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    check(dep["spec"]["replicas"] == replicas, "%s: %d replicas" % (name, replicas))
    labels = pod["metadata"]["labels"]
    sel = dep["spec"]["selector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in sel.items()), "%s: the Deployment selects its pods" % name)
    check(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "%s: the Service selects the pods" % name)
    (c,) = spec["containers"]
    check(c["image"].split("/")[-1].split(":")[0] == name, "%s: image %s" % (name, c["image"]))

    # ports
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    exposed = sorted(int(p.split("/")[0]) for p in cfg["ExposedPorts"])
    check(sorted(cports.values()) == exposed, "%s: container ports %s = the image's exposed ports %s" % (name, sorted(cports.values()), exposed))
    check(sorted(cports) == sorted(want_ports), "%s: ports named %s" % (name, sorted(want_ports)))
    for sp in svc["spec"]["ports"]:
        check(sp["targetPort"] in cports and cports[sp["targetPort"]] == sp["port"],
              "%s: Service port %s %d targets the container port of that name" % (name, sp["name"], sp["port"]))

    # environment
    mapped = dict(re.findall(r"^\t(WINEQ_[A-Z0-9_]+)=([a-z-]+) \\$", entry, re.M))
    check(len(mapped) > 5, "%s: the entry point maps %d variables" % (name, len(mapped)))
    helptext = open(os.path.join(work, name + ".help")).read()
    missing = [f for f in mapped.values() if "--" + f not in helptext]
    check(not missing, "%s: every mapped flag is in --help %s" % (name, missing or ""))
    image_env = dict(e.split("=", 1) for e in cfg["Env"])
    kenv = {e["name"]: e["value"] for e in c["env"]}
    unknown = sorted(set(kenv) - set(mapped) - native)
    check(not unknown, "%s: every variable is one the image reads %s" % (name, unknown or ""))
    differ = sorted(k for k in kenv if k in image_env and image_env[k] != kenv[k])
    check(not differ, "%s: variables the image sets keep its values %s" % (name, differ or ""))
    env = dict(image_env, **kenv)
    addr = {"WINEQ_HTTP": "http", "WINEQ_LISTEN": "rpc", "WINEQ_FEED": "feed"}
    for var, pname in addr.items():
        if pname in cports:
            check(port_of(env[var]) == cports[pname], "%s: %s=%s is port %s %d" % (name, var, env[var], pname, cports[pname]))

    # probes
    routes = get_routes(os.path.join(src, routes_file))
    for probe in ("livenessProbe", "readinessProbe"):
        h = c[probe]["httpGet"]
        check(h["path"] in routes and h["port"] in cports,
              "%s: %s GET %s on port %s is a route of %s" % (name, probe, h["path"], h["port"], routes_file))

    # security and resources
    sc = spec["securityContext"]
    uid = int(cfg["User"].split(":")[0])
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == uid and uid != 0,
          "%s: runAsNonRoot, runAsUser %s = the image's user" % (name, sc.get("runAsUser")))
    csc = c["securityContext"]
    check(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False,
          "%s: read-only root, no privilege escalation" % name)
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    check(all(n in vols for n in mounts.values()), "%s: every mount names a volume" % name)
    for path in sorted({env["WINEQ_HOME"], cfg["WorkingDir"], "/tmp"}):
        check(path in mounts and "emptyDir" in vols[mounts[path]], "%s: %s is a writable emptyDir" % (name, path))
    res = c["resources"]
    check(all(k in res.get(w, {}) for w in ("requests", "limits") for k in ("cpu", "memory")),
          "%s: cpu and memory requests and limits" % name)
    return spec, env, mounts, vols


r = one("wineqd.yaml", "wineqd", "src/server/wqd_http.c", ["http", "rpc", "feed"], 2)
if r:
    spec, env, mounts, vols = r
    helptext = open(os.path.join(work, "wineqd.help")).read()
    default = lambda flag: float(re.search(r"--%s SECONDS.*?\[(\d+)\]" % flag, helptext, re.S).group(1))
    grace = float(env.get("WINEQ_DRAIN_GRACE", default("drain-grace")))
    drain = float(env.get("WINEQ_DRAIN_TIMEOUT", default("drain-timeout")))
    pre = spec["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = float(pre[-1]) if pre and "sleep" in " ".join(pre) else 0
    tgp = spec["terminationGracePeriodSeconds"]
    check(tgp > sleep + grace + drain,
          "wineqd: grace period %ss > preStop %gs + drain grace %gs + drain timeout %gs" % (tgp, sleep, grace, drain))
    key = env.get("WINEQ_FEEDBACK_KEY", "")
    kmount = [p for p in mounts if key.startswith(p + "/")]
    check(kmount and "secret" in vols[mounts[kmount[0]]],
          "wineqd: the feedback key %s is one Secret for every replica" % key)
    check(env.get("WINEQ_METRICS_OPEN") == "yes", "wineqd: /metrics open to Prometheus in the cluster")

r = one("wineq-monitor.yaml", "wineq-monitor", "src/monitor/wqm_http.c", ["http"], 1)
if r:
    spec, env, mounts, vols = r
    feed = env["WINEQ_FEED"]
    m = re.match(r"tcp://([^:/]+):(\d+)$", feed)
    wsvc = services.get(m.group(1)) if m else None
    fports = [p["port"] for p in (wsvc or {}).get("spec", {}).get("ports", []) if p["name"] == "feed"]
    check(m and fports == [int(m.group(2))], "wineq-monitor: WINEQ_FEED %s is the wineqd Service's feed port" % feed)
    check(env.get("WINEQ_HTTP_OPEN") == "yes" and env["WINEQ_HTTP"].startswith("0.0.0.0:"),
          "wineq-monitor: HTTP on the pod's address, opened on purpose")
PYEOF
while read -r verdict what; do
	case $verdict in
	ok) ok "$what" ;;
	*) not_ok "${what:-$verdict}" ;;
	esac
done <"$WORK/py.out"

finish
