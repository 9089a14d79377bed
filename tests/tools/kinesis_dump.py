#!/usr/bin/python3
"""Reads every record of a Kinesis stream with Debian's AWS CLI (/usr/bin/aws, the independent
client of the bridge's tests) and prints one JSON line per record:
{"shard", "seq", "pk", "data"} with data decoded (UTF-8 text).

  kinesis_dump.py --endpoint URL --stream NAME
Credentials and region come from the environment (any values work against kinesalite).
"""
import argparse
import base64
import json
import subprocess
import sys


def aws(endpoint, *args):
    out = subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint, "--output", "json",
                          "kinesis", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stream", required=True)
    a = ap.parse_args()
    shards = aws(a.endpoint, "list-shards", "--stream-name", a.stream)["Shards"]
    for sh in shards:
        it = aws(a.endpoint, "get-shard-iterator", "--stream-name", a.stream, "--shard-id",
                 sh["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
        while it:
            r = aws(a.endpoint, "get-records", "--shard-iterator", it, "--limit", "10000")
            for rec in r["Records"]:
                print(json.dumps({"shard": sh["ShardId"], "seq": rec["SequenceNumber"],
                                  "pk": rec["PartitionKey"],
                                  "data": base64.b64decode(rec["Data"]).decode("utf-8")}))
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")
    return 0


sys.exit(main())
