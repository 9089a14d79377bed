#!/usr/bin/python3
"""Summaries of wineqd's web UI pages (and of screenshots of them) as JSON, for test_ui.sh.

  ui_dom_check.py page FILE   FILE: an HTML page as wineqd sent it or as headless Chromium
                              dumped it (--dump-dom); prints one JSON object with what the
                              page shows through the DOM markers of the UI contract
  ui_dom_check.py png FILE    a PNG screenshot: width, height, distinct colours, those
                              covering at least 0.1% of the pixels (major_colours), the most
                              common colour (the background) and the share of other pixels

Standard library only (html.parser, zlib). Text is whitespace-normalised and character
references are decoded. Exit 0 when a summary was printed, 2 on usage or read errors.

The page summary (keys absent from a page are null or empty):
  h1: [texts of every <h1>], title, error: text of #error, duplicate_ids: [ids seen twice],
  scripts: <script> elements + on* attributes + javascript: URLs,
  external: URL attributes pointing outside the page's origin (scheme or //host),
  experiments: [{name, runs, href}]                          table#experiments
  runs: {total, headers: [{col, sort, href}], rows: [{id, cells: {col: {text, value}},
         href, checked_box}], filter_form: {action, method, filter, hidden: {name: value}},
         columns: [{value, checked}], columns_form_action, compare_form_action,
         next_page, first_page, page_info}                    /ui/runs
  run: {name, id, params, metrics, tags: {key: text}, charts: [{id, series, points}],
        artifacts: [{path, href, size, sha256}], flow_link, model_versions: [{text, href}]}
  compare: {runs: [ids], rows: [{key, differs, diff_cells, values}],
            scatter: {x, y, color, scale, points: [{run_id, x, y, group}]},
            axes: {name: [option values]}}
  models: [{name, href}]                                     table#models
  model: {name, description, served: {text, href}, versions: [{version, stage, id,
          served, aliases, run_href, text}], history: [{kind, version, text}],
          timeline_events}
  flows: [{id, state, href}]                                 table#flows
  flow: {name, id, bars: [{task, state, attempts, start_ms, end_ms, x, width, y}],
         bar_labels: [texts in svg#gantt], tasks: [{task, state, attempts}], log: [lines]}
"""

import json
import re
import struct
import sys
import zlib
from collections import Counter
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}
URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "poster", "data", "background",
             "xlink:href", "ping"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = {k: (v if v is not None else "") for k, v in attrs}
        self.parent = parent
        self.children = []  # Node or str

    def classes(self):
        return self.attrs.get("class", "").split()

    def text(self):
        out = []
        stack = [self]
        while stack:
            n = stack.pop()
            if isinstance(n, str):
                out.append(n)
            else:
                stack.extend(reversed(n.children))
        return " ".join("".join(out).split())

    def iter(self):
        stack = [self]
        while stack:
            n = stack.pop()
            if isinstance(n, Node):
                yield n
                stack.extend(reversed(n.children))

    def find_all(self, tag=None, cls=None, **attrs):
        res = []
        for n in self.iter():
            if n is self:
                continue
            if tag is not None and n.tag != tag:
                continue
            if cls is not None and cls not in n.classes():
                continue
            if any(n.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            res.append(n)
        return res

    def find(self, tag=None, cls=None, **attrs):
        r = self.find_all(tag, cls, **attrs)
        return r[0] if r else None


class Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def by_id(root, ident):
    return root.find(id=ident)


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def security(root):
    scripts = 0
    external = 0
    for n in root.iter():
        if n.tag == "script":
            scripts += 1
        for k, v in n.attrs.items():
            if k.startswith("on"):
                scripts += 1
            if k in URL_ATTRS:
                v = v.strip().lower()
                if v.startswith("javascript:"):
                    scripts += 1
                elif re.match(r"^([a-z][a-z0-9+.-]*:|//)", v):
                    external += 1
    return scripts, external


def kv_table(root, ident):
    t = by_id(root, ident)
    if t is None:
        return None
    out = {}
    for tr in t.find_all("tr"):
        if "data-key" in tr.attrs:
            td = tr.find("td")
            out[tr.attrs["data-key"]] = td.text() if td is not None else None
    return out


def runs_summary(root):
    table = by_id(root, "runs")
    total = by_id(root, "run-total")
    if table is None and total is None:
        return None
    headers, rows = [], []
    if table is not None:
        for th in table.find_all("th"):
            if "data-col" in th.attrs:
                a = th.find("a")
                headers.append({"col": th.attrs["data-col"], "sort": th.attrs.get("aria-sort"),
                                "href": a.attrs.get("href") if a is not None else None})
        for tr in table.find_all("tr", cls="run"):
            cells = {}
            href = None
            for td in tr.find_all("td"):
                col = td.attrs.get("data-col")
                if col is None:
                    continue
                cells[col] = {"text": td.text(), "value": td.attrs.get("data-value")}
                if col == "name":
                    a = td.find("a")
                    href = a.attrs.get("href") if a is not None else None
            box = tr.find("input", type="checkbox", name="runs")
            rows.append({"id": tr.attrs.get("data-run-id"), "cells": cells, "href": href,
                         "checked_box": box.attrs.get("value") if box is not None else None})
    ff = by_id(root, "run-filter")
    filter_form = None
    if ff is not None:
        hidden = {}
        fval = None
        for i in ff.find_all("input"):
            if i.attrs.get("type") == "hidden":
                hidden[i.attrs.get("name")] = i.attrs.get("value")
            elif i.attrs.get("name") == "filter":
                fval = i.attrs.get("value", "")
        filter_form = {"action": ff.attrs.get("action"), "method": ff.attrs.get("method"),
                       "filter": fval, "hidden": hidden}
    cf = by_id(root, "columns")
    columns = []
    if cf is not None:
        for i in cf.find_all("input", type="checkbox", name="col"):
            columns.append({"value": i.attrs.get("value"), "checked": "checked" in i.attrs})
    comp = by_id(root, "compare-form")
    nxt, first, info = by_id(root, "next-page"), by_id(root, "first-page"), by_id(root, "page-info")
    return {"total": num(total.text()) if total is not None else None,
            "headers": headers, "rows": rows, "filter_form": filter_form, "columns": columns,
            "columns_form_action": cf.attrs.get("action") if cf is not None else None,
            "columns_form_method": cf.attrs.get("method") if cf is not None else None,
            "compare_form_action": comp.attrs.get("action") if comp is not None else None,
            "compare_boxes_in_form": len(comp.find_all("input", type="checkbox", name="runs"))
            if comp is not None else 0,
            "next_page": nxt.attrs.get("href") if nxt is not None else None,
            "first_page": first.attrs.get("href") if first is not None else None,
            "page_info": info.text() if info is not None else None}


def run_summary(root):
    name = by_id(root, "run-name")
    if name is None:
        return None
    ident = by_id(root, "run-id")
    charts = []
    for svg in root.find_all("svg", cls="chart"):
        charts.append({"id": svg.attrs.get("id"),
                       "series": len(svg.find_all("polyline", cls="series")),
                       "points": len(svg.find_all("circle", cls="point"))})
    arts = []
    at = by_id(root, "artifacts")
    if at is not None:
        for tr in at.find_all("tr", cls="artifact"):
            tds = tr.find_all("td")
            a = tr.find("a")
            arts.append({"path": a.text() if a is not None else None,
                         "href": a.attrs.get("href") if a is not None else None,
                         "size": num(tds[1].text()) if len(tds) > 1 else None,
                         "sha256": tds[2].text() if len(tds) > 2 else None})
    fl = by_id(root, "flow-link")
    mv = by_id(root, "model-versions")
    versions = []
    if mv is not None:
        for li in mv.find_all("li"):
            a = li.find("a")
            versions.append({"text": li.text(), "href": a.attrs.get("href") if a else None})
    return {"name": name.text(), "id": ident.text() if ident is not None else None,
            "params": kv_table(root, "params"), "metrics": kv_table(root, "metrics"),
            "tags": kv_table(root, "tags"), "charts": charts, "artifacts": arts,
            "flow_link": fl.attrs.get("href") if fl is not None else None,
            "model_versions": versions}


def compare_summary(root):
    t = by_id(root, "compare")
    sc = by_id(root, "scatter")
    if t is None and sc is None:
        return None
    out = {"runs": [], "rows": [], "scatter": None, "axes": {}}
    if t is not None:
        out["runs"] = [th.attrs.get("data-run-id") for th in t.find_all("th", cls="run")]
        for tr in t.find_all("tr"):
            if "data-key" not in tr.attrs:
                continue
            tds = tr.find_all("td")
            out["rows"].append({"key": tr.attrs["data-key"], "differs": "differs" in tr.classes(),
                                "diff_cells": sum(1 for td in tds if "diff" in td.classes()),
                                "values": [td.text() for td in tds]})
    if sc is not None:
        pts = [{"run_id": c.attrs.get("data-run-id"), "x": num(c.attrs.get("data-x")),
                "y": num(c.attrs.get("data-y")), "group": c.attrs.get("data-group")}
               for c in sc.find_all("circle", cls="point") if "data-run-id" in c.attrs]
        out["scatter"] = {"x": sc.attrs.get("data-x"), "y": sc.attrs.get("data-y"),
                          "color": sc.attrs.get("data-color"),
                          "scale": sc.attrs.get("data-scale"), "points": pts}
    ax = by_id(root, "scatter-axes")
    if ax is not None:
        for sel in ax.find_all("select"):
            out["axes"][sel.attrs.get("name")] = [o.attrs.get("value", o.text())
                                                  for o in sel.find_all("option")]
    return out


def model_summary(root):
    name = by_id(root, "model-name")
    if name is None:
        return None
    desc, served = by_id(root, "model-description"), by_id(root, "served")
    versions = []
    vt = by_id(root, "versions")
    if vt is not None:
        for tr in vt.find_all("tr", cls="version"):
            run = None
            for a in tr.find_all("a"):
                if a.attrs.get("href", "").startswith("/ui/runs/"):
                    run = a.attrs["href"]
            versions.append({"version": tr.attrs.get("data-version"),
                             "stage": tr.attrs.get("data-stage"), "id": tr.attrs.get("id"),
                             "served": "served" in tr.classes(),
                             "aliases": [s.text() for s in tr.find_all("span", cls="alias")],
                             "run_href": run, "text": tr.text()})
    hist = []
    ol = by_id(root, "history")
    if ol is not None:
        for li in ol.find_all("li", cls="event"):
            hist.append({"kind": li.attrs.get("data-kind"),
                         "version": li.attrs.get("data-version"), "text": li.text()})
    tl = by_id(root, "history-timeline")
    sa = served.find("a") if served is not None else None
    return {"name": name.text(), "description": desc.text() if desc is not None else None,
            "served": {"text": served.text(), "href": sa.attrs.get("href") if sa else None}
            if served is not None else None,
            "versions": versions, "history": hist,
            "timeline_events": len(tl.find_all("circle", cls="event")) if tl is not None else None}


def flow_summary(root):
    name = by_id(root, "flow-name")
    if name is None:
        return None
    ident = by_id(root, "flow-id")
    bars, labels = [], []
    g = by_id(root, "gantt")
    if g is not None:
        for r in g.find_all("rect", cls="bar"):
            bars.append({"task": r.attrs.get("data-task"), "state": r.attrs.get("data-state"),
                         "attempts": num(r.attrs.get("data-attempts")),
                         "start_ms": num(r.attrs.get("data-start-ms")),
                         "end_ms": num(r.attrs.get("data-end-ms")),
                         "x": num(r.attrs.get("x")), "width": num(r.attrs.get("width")),
                         "y": num(r.attrs.get("y"))})
        labels = [t.text() for t in g.find_all("text")]
    tasks = []
    tt = by_id(root, "tasks")
    if tt is not None:
        for tr in tt.find_all("tr", cls="task"):
            tasks.append({"task": tr.attrs.get("data-task"), "state": tr.attrs.get("data-state"),
                          "attempts": num(tr.attrs.get("data-attempts"))})
    log = by_id(root, "log")
    lines = []
    if log is not None:
        raw = "".join(c if isinstance(c, str) else c.text() for c in log.children)
        lines = [ln for ln in raw.splitlines() if ln.strip()]
    return {"name": name.text(), "id": ident.text() if ident is not None else None,
            "gantt": g is not None, "bars": bars, "bar_labels": labels, "tasks": tasks,
            "log": lines}


def page(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    p = Tree()
    p.feed(text)
    p.close()
    root = p.root
    ids = Counter(n.attrs["id"] for n in root.iter() if "id" in n.attrs)
    scripts, external = security(root)
    title = root.find("title")
    err = by_id(root, "error")
    out = {"h1": [h.text() for h in root.find_all("h1")],
           "title": title.text() if title is not None else None,
           "error": err.text() if err is not None else None,
           "duplicate_ids": sorted(k for k, v in ids.items() if v > 1),
           "scripts": scripts, "external": external,
           "stylesheet": [n.attrs.get("href") for n in root.find_all("link")
                          if n.attrs.get("rel") == "stylesheet"]}
    exp = by_id(root, "experiments")
    out["experiments"] = None if exp is None else [
        {"name": tr.attrs.get("data-name"),
         "runs": num(tr.find("td", cls="runs").text()) if tr.find("td", cls="runs") else None,
         "href": (tr.find("a").attrs.get("href") if tr.find("a") else None)}
        for tr in exp.find_all("tr", cls="experiment")]
    mt = by_id(root, "models")
    out["models"] = None if mt is None else [
        {"name": tr.attrs.get("data-name"), "href": tr.find("a").attrs.get("href")
         if tr.find("a") else None} for tr in mt.find_all("tr", cls="model")]
    ft = by_id(root, "flows")
    out["flows"] = None if ft is None else [
        {"id": tr.attrs.get("data-flow-id"), "state": tr.attrs.get("data-state"),
         "href": tr.find("a").attrs.get("href") if tr.find("a") else None}
        for tr in ft.find_all("tr", cls="flow")]
    out["runs"] = runs_summary(root)
    out["run"] = run_summary(root)
    out["compare"] = compare_summary(root)
    out["model"] = model_summary(root)
    out["flow"] = flow_summary(root)
    return out


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth} colour type {ctype}")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    colours = Counter()
    pos = 0
    for _ in range(height):
        ftype = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prev[i], upleft)) & 255
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    bg, nbg = colours.most_common(1)[0]
    total = width * height
    return {"width": width, "height": height, "colours": len(colours),
            "major_colours": sum(1 for c in colours.values() if c >= total / 1000),
            "background": bg.hex(), "non_background": (total - nbg) / total}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("page", "png"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        res = page(sys.argv[2]) if sys.argv[1] == "page" else png(sys.argv[2])
    except (OSError, ValueError, zlib.error, struct.error, TypeError) as e:
        print(f"ui_dom_check.py: {sys.argv[2]}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res))
    return 0


sys.exit(main())
