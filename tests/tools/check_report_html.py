#!/usr/bin/python3
"""Summarises a wineq drift report page (wq_driftreport_html) as JSON, for tests.

Usage: check_report_html.py [--pretty] FILE     (FILE may be "-" for standard input)

Reads the page with the standard library's html.parser only, so it works on the file the
monitor wrote and on the DOM that headless Chromium dumps (--dump-dom), and prints one JSON
object:

  {"title":         text of <title>,
   "doctype":       true when the page has <!DOCTYPE html> (Chromium's --dump-dom keeps it),
   "lang":          <html lang>, "charset": <meta charset> (null when missing),
   "banner":        headline of #banner ("Dataset drift detected" / "No dataset drift" /
                    "Not enough data: n of k rows"),
   "banner_detail": its second line ("n of m columns drifted (share s, threshold t)"),
   "drift":         true / false from #banner's class "drift" / "no-drift" (null otherwise,
                    e.g. while the data is insufficient),
   "insufficient":  true when #banner has class "insufficient" (no verdict),
   "columns":       [{"id": "col-<i>", "name": text of .col-name (else data-name),
                      "drifted": data-drifted == "true", "verdict": data-verdict ("drift",
                      "ok", "none"; null when missing), "kind": data-kind,
                      "svgs": <svg> elements inside, "hist_svgs": those with class "hist",
                      "bars": <rect> with class "bar" inside them (overflow ones included),
                      "overflow": those also with class "overflow" (values outside the
                      reference's range),
                      "rects": all <rect> (bars plus the two legend swatches)}],
   "sections":      {"quality", "history", "data_quality": whether section#quality,
                     section#history, section#data-quality are present},
   "confusion":     data-count of each rect.cell in svg.confusion, row by row (null when
                    there is no confusion matrix),
   "history_points": circle.pt elements carrying a <title> in svg#history-drift (the legend's
                    are not counted),
   "dq_rows":       tr.dq-row elements of table#dq,
   "scripts":       <script> elements + on* event-handler attributes + javascript: URLs,
   "external_urls": URL-bearing attributes (href, src, srcset, action, xlink:href, ...) whose
                    value is not a fragment ("#..."), <meta http-equiv=refresh>, and CSS url(...)
                    not pointing at a fragment or @import in <style> or style attributes}

Text is whitespace-normalised; character references are decoded (so names compare equal to the
raw column names). Exit status 0 when a summary was printed, 2 on usage or read errors."""

import json
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}
URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "poster", "data", "background",
             "cite", "longdesc", "manifest", "ping", "xlink:href", "codebase", "archive",
             "profile", "usemap", "icon", "imagesrcset"}
COL_ID = re.compile(r"^col-\d+$")
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)


def norm(text):
    return " ".join(text.split())


def css_external(css):
    n = len(re.findall(r"@import", css, re.IGNORECASE))
    for m in CSS_URL.finditer(css):
        if not m.group(2).strip().startswith("#"):
            n += 1
    return n


class Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # open elements: dicts with tag, col, captures
        self.doctype = False
        self.lang = None
        self.charset = None
        self.title = []
        self.banner_class = None
        self.banner_all = []
        self.banner_title = []
        self.banner_detail = []
        self.columns = []
        self.scripts = 0
        self.external = 0
        self.sections = {"quality": False, "history": False, "data_quality": False}
        self.confusion = None
        self.history_points = 0
        self.dq_rows = 0

    def handle_decl(self, decl):
        if decl.strip().lower() == "doctype html":
            self.doctype = True

    def _attrs(self, tag, attrs):
        a = {}
        for k, v in attrs:
            k = k.lower()
            v = v if v is not None else ""
            a.setdefault(k, v)
            if k.startswith("on"):
                self.scripts += 1
            if v.strip().lower().startswith("javascript:"):
                self.scripts += 1
            elif k in URL_ATTRS:
                s = v.strip()
                if s != "" and not s.startswith("#"):
                    self.external += 1
            if k == "style":
                self.external += css_external(v)
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.external += 1
        return a

    def _open(self, tag, attrs, void):
        a = self._attrs(tag, attrs)
        parent = self.stack[-1] if self.stack else None
        col = parent["col"] if parent else None
        captures = []
        classes = a.get("class", "").split()
        if tag == "script":
            self.scripts += 1
        if tag == "html" and "lang" in a:
            self.lang = a["lang"]
        if tag == "meta" and "charset" in a:
            self.charset = a["charset"]
        if tag == "title" and not any(e["tag"] == "svg" for e in self.stack):
            captures.append(self.title)
        if a.get("id") == "banner":
            self.banner_class = classes
            captures.append(self.banner_all)
        if any(e.get("banner") for e in self.stack) or a.get("id") == "banner":
            if "banner-title" in classes:
                captures.append(self.banner_title)
            if "banner-detail" in classes:
                captures.append(self.banner_detail)
        sec_id = a.get("id", "")
        if tag == "section" and sec_id in ("quality", "history", "data-quality"):
            self.sections[sec_id.replace("-", "_")] = True
        in_svg = [e for e in self.stack if e["tag"] == "svg"]
        if tag == "rect" and "cell" in classes and in_svg and "confusion" in in_svg[-1]["classes"]:
            if self.confusion is None:
                self.confusion = []
            self.confusion.append(int(a.get("data-count", "-1")))
        if tag == "circle" and "pt" in classes and in_svg and \
                in_svg[-1]["id"] == "history-drift" and \
                not any(e["tag"] == "g" for e in self.stack[self.stack.index(in_svg[-1]):]):
            self.history_points += 1
        if tag == "tr" and "dq-row" in classes:
            self.dq_rows += 1
        if COL_ID.match(a.get("id", "")):
            col = {"id": a["id"], "name_parts": [], "data_name": a.get("data-name"),
                   "drifted": a.get("data-drifted") == "true", "kind": a.get("data-kind"),
                   "verdict": a.get("data-verdict"),
                   "svgs": 0, "hist_svgs": 0, "bars": 0, "overflow": 0, "rects": 0}
            self.columns.append(col)
        if col is not None:
            if "col-name" in classes:
                captures.append(col["name_parts"])
            if tag == "svg":
                col["svgs"] += 1
                if "hist" in classes:
                    col["hist_svgs"] += 1
            if tag == "rect" and any(e["tag"] == "svg" for e in self.stack):
                col["rects"] += 1
                if "bar" in classes:
                    col["bars"] += 1
                    if "overflow" in classes:
                        col["overflow"] += 1
        if not void:
            self.stack.append({"tag": tag, "col": col, "captures": captures,
                               "banner": a.get("id") == "banner", "classes": classes,
                               "id": a.get("id", "")})

    def handle_starttag(self, tag, attrs):
        self._open(tag, attrs, tag in VOID)

    def handle_startendtag(self, tag, attrs):
        self._open(tag, attrs, True)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.stack and self.stack[-1]["tag"] == "style":
            self.external += css_external(data)
        for e in self.stack:
            for target in e["captures"]:
                target.append(data)

    def summary(self):
        drift = None
        if self.banner_class is not None:
            if "drift" in self.banner_class:
                drift = True
            elif "no-drift" in self.banner_class:
                drift = False
        banner = norm("".join(self.banner_title)) or norm("".join(self.banner_all))
        cols = []
        for c in self.columns:
            name = "".join(c["name_parts"]).strip()
            if name == "" and c["data_name"] is not None:
                name = c["data_name"]
            cols.append({"id": c["id"], "name": name, "drifted": c["drifted"],
                         "verdict": c["verdict"], "kind": c["kind"], "svgs": c["svgs"],
                         "hist_svgs": c["hist_svgs"], "bars": c["bars"],
                         "overflow": c["overflow"], "rects": c["rects"]})
        return {"title": norm("".join(self.title)) or None, "doctype": self.doctype,
                "lang": self.lang, "charset": self.charset,
                "banner": banner if self.banner_class is not None else None,
                "banner_detail": norm("".join(self.banner_detail)) or None,
                "drift": drift,
                "insufficient": self.banner_class is not None and
                "insufficient" in self.banner_class,
                "columns": cols, "sections": self.sections, "confusion": self.confusion,
                "history_points": self.history_points, "dq_rows": self.dq_rows,
                "scripts": self.scripts, "external_urls": self.external}


def main(argv):
    args = [a for a in argv[1:] if a != "--pretty"]
    if len(args) != 1 or args[0] in ("-h", "--help"):
        sys.stderr.write("usage: check_report_html.py [--pretty] FILE|-\n")
        return 2
    try:
        if args[0] == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(args[0], "rb") as f:
                raw = f.read()
    except OSError as e:
        sys.stderr.write("check_report_html.py: %s\n" % e)
        return 2
    r = Reader()
    r.feed(raw.decode("utf-8", errors="replace"))
    r.close()
    json.dump(r.summary(), sys.stdout, indent=2 if "--pretty" in argv else None)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
