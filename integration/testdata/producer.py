#!/usr/bin/env python3
"""A producer that knows lifecycle only by its documented wire format
(tasks/CONTRACT.md): it builds payloads, computes their task ids by the
documented algorithm, and enqueues over HTTP. Standard library only.

    producer.py vectors FILE        check every test vector's id; exit 1 on a mismatch
    producer.py run BASE_URL TOKEN  enqueue a merge and a photo deletion, check the
                                    ids, wait until both are completed; prints JSON
"""
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request


def task_id_fields(task_type, p):
    """The fields of the task id, in the contract's order; absent is ""."""
    g = lambda k: p.get(k, "")
    if task_type == "photo:delete":
        return [g("system"), g("user_id"), g("request_id"), g("photo_id"),
                g("module"), g("record_id"), g("user"), g("key")]
    if task_type == "user:merge":
        return [g("guest_id"), g("user_id")]
    if task_type == "user:erase":
        s = p.get("slice", 0)
        return [g("request_id")] if s == 0 else [g("request_id"), str(s)]
    if task_type == "assets:sweep":
        return [p.get("mode") or "quarantine", g("sweep_id")]
    raise ValueError("unknown task type " + task_type)


def task_id(task_type, payload):
    enc = json.dumps(task_id_fields(task_type, payload), separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        enc = enc.replace(ch, esc)
    return task_type + ":" + hashlib.sha256(enc.encode("utf-8")).hexdigest()[:32]


def check_vectors(path):
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    bad = 0
    for v in vectors:
        got = task_id(v["type"], v["payload"])
        if got != v["task_id"]:
            print("vector %s: %s, want %s" % (v["name"], got, v["task_id"]), file=sys.stderr)
            bad += 1
    print(json.dumps({"vectors": len(vectors), "mismatches": bad}))
    return 1 if bad else 0


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def run(base, token):
    sends = [
        ("user:merge", "/v1/merges", {"guest_id": "guest-5001", "user_id": "2002", "request_id": "order-py-1"}),
        ("photo:delete", "/v1/photo-deletions",
         {"system": "artifi-v4", "user_id": "2001", "photo_id": "100002", "request_id": "py-1"}),
    ]
    out = []
    for task_type, path, payload in sends:
        mine = task_id(task_type, payload)
        status, body = call(base, token, "POST", path, payload)
        if status != 202 or body.get("task_id") != mine:
            raise SystemExit("POST %s: %d %s, want 202 with task id %s" % (path, status, body, mine))
        again, body2 = call(base, token, "POST", path, payload)
        if again != 200 or body2.get("task_id") != mine or not body2.get("duplicate"):
            raise SystemExit("POST %s again: %d %s, want 200, the same id, duplicate" % (path, again, body2))
        out.append({"type": task_type, "task_id": mine, "status_url": body["status_url"]})
    deadline = time.time() + 60
    for o in out:
        while True:
            status, body = call(base, token, "GET", o["status_url"])
            if status == 200 and body.get("state") == "completed":
                o["outcome"] = body.get("outcome")
                break
            if status != 200 or body.get("state") == "dead-lettered" or time.time() > deadline:
                raise SystemExit("GET %s: %d %s" % (o["status_url"], status, body))
            time.sleep(0.2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "vectors":
        sys.exit(check_vectors(sys.argv[2]))
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
