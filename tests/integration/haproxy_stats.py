"""HAProxy's view of the wineqd backend, for the load-balancer tests (test_haproxy.sh,
test_replicas_pg.sh): they copy this file next to their own helper script and import it."""
import csv
import io
import time
import urllib.request


def states(stats):
    """Each server of backend wineqd and its status, from the stats page's CSV."""
    text = urllib.request.urlopen(stats + "/stats;csv", timeout=2).read().decode()
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {r["svname"]: r["status"] for r in rows if r["pxname"] == "wineqd"}


def wait_state(stats, server, prefix, timeout):
    """Seconds until server's status starts with prefix, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if states(stats).get(server, "").startswith(prefix):
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.02)
    return None
