"""Protocol fuzzing of the running R model server (issue 19), run by scripts/fuzz.sh.

Starts r/serve.R (2 workers) on 127.0.0.1 with a trained bundle, then:
  1. the hostile cases that once crashed the server or corrupted its metrics, each with the
     status it must get;
  2. worker deaths by SIGSEGV, SIGABRT and SIGKILL: the server keeps answering, restarts counted;
  3. Schemathesis, driven by docs/openapi/seldon-v1.yaml and docs/openapi/oip-v2.yaml, for a
     bounded time each, with the not_a_server_error check.
After every case: the server process still runs, /prometheus parses with prometheus_client
(Prometheus's Python parser) with no NaN, NA or negative duration, and every log line is JSON.
Exits non-zero on the first broken target. Prints executions and time.
"""
import argparse
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

ROW = [5.1, 3.5, 1.4, 0.2]
NAMES = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
MAX_BODY = 65536


def fail(msg):
    print(f"fuzz: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port, data, wait=5.0, pause=None):
    """Sends raw bytes, returns what the server answered until it closes or `wait` passes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        s.sendall(data)
        if pause:
            time.sleep(pause)
        s.settimeout(wait)
        out = b""
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def post(path, body, headers=""):
    if isinstance(body, str):
        body = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def status_of(answer):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(m.group(1)) if m else None


class Server:
    def __init__(self, args):
        self.port, self.metrics_port = free_port(), free_port()
        self.log_path = os.path.join(args.work, "server.log")
        self.log = open(self.log_path, "wb")
        env = {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
            "R_LIBS": args.r_lib, "MODEL_URI": args.bundle, "TMPDIR": args.work,
            "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(self.port),
            "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(self.metrics_port),
            "PREDICTIVE_UNIT_ID": "iris", "RMLOPS_WORKERS": "2", "MAX_REQUEST_BYTES": str(MAX_BODY),
        }
        self.proc = subprocess.Popen(["Rscript", os.path.join(args.root, "r", "serve.R")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.get("/health/status")[0] == 200:
                return
            self.alive()
            time.sleep(0.5)
        fail("the server did not become ready in 90 s:\n" + self.text())

    def get(self, path, port=None):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        if self.proc.poll() is not None:
            fail(f"the server exited with {self.proc.returncode}:\n" + self.text()[-4000:])

    def worker_pids(self):
        started = re.findall(r'"msg":"worker started","worker":(\d+),"pid":(\d+)', self.text())
        latest = {}
        for slot, pid in started:
            latest[slot] = int(pid)
        return list(latest.values())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def check_invariants(server, case):
    """The targets after every case: alive, metrics parse, every log line is JSON."""
    server.alive()
    code, text = server.get("/prometheus", server.metrics_port)
    if code != 200:
        fail(f"after {case}: /prometheus answered {code}")
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own error is the finding
        fail(f"after {case}: prometheus_client cannot parse /prometheus: {e}\n{text}")
    for fam in families:
        for s in fam.samples:
            if "duration" in s.name or s.name.endswith(("_total", "_count", "_bucket")):
                if math.isnan(s.value) or s.value < 0:
                    fail(f"after {case}: {s.name}{s.labels} = {s.value}")
    # Lines end at \n only: str.splitlines() would also split at U+0085 and U+2028, which JSON
    # strings may carry raw (the first finding of Schemathesis here was this checker's).
    for n, line in enumerate(server.text().split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            fail(f"after {case}: log line {n} is not JSON: {line[:300]!r}")
        d = rec.get("duration_ms")
        if d is not None and (not isinstance(d, (int, float)) or d < 0):
            fail(f"after {case}: log line {n} has duration_ms {d!r}")
        # The hostile cases and the fuzzer are all client mistakes or valid requests: never a 5xx
        # (503 only while a killed worker is replaced, see the worker-death cases).
        if isinstance(rec.get("status"), int) and rec["status"] >= 500 and rec["status"] != 503:
            fail(f"after {case}: a {rec['status']} in the log: {line[:300]}")
    return families


def metric(families, name):
    for fam in families:
        for s in fam.samples:
            if s.name == name:
                return s.value
    return None


def hostile_cases(server):
    p = server.port
    v1 = "/api/v1.0/predictions"
    v2 = "/v2/models/iris/infer"
    big_chunks = b"".join(b"4000\r\n" + b"[" * 0x4000 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n"
    chunked = "Transfer-Encoding: chunked\r\n"
    cases = [
        ("printf directives on v1", post(v1, "x%s%s%s%s%s%s%s%s%s%s"), {400}),
        ("%n on v1", post(v1, "x%n"), {400}),
        ("printf directives on /predict", post("/predict", "x%s%s%s%s%s%s%s%s%s%s"), {400}),
        ("printf directives on v2", post(v2, "x%s%s%s%s%s%s%s%s%s%s"), {400}),
        ("%n on v2", post(v2, "x%n"), {400}),
        ("an unknown model name, printf directives in it", post("/v2/models/%25n%25s%s/infer", '{"inputs":[]}'), {404}),
        ("%n in a JSON string", post(v1, '{"data":{"names":["%n%s"],"ndarray":[[1,2,3,4]]}}'), {400}),
        ("SeldonClient's form-encoded body", post(v1, "json=%7B%22data%22%3A%7B%22ndarray%22%3A%5B%5B1%5D%5D%7D%7D",
                                                    "Content-Type: application/x-www-form-urlencoded\r\n"), {400, 415}),
        ("bytes that are not UTF-8 in the body", post(v1, b'{"data":{"ndarray":[["\xff\xfe"]]}}'), {400}),
        ("bytes that are not ASCII in the head", b"POST /predict\xff HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", {400}),
        ("nesting 10000 deep", post(v1, "[" * 10000), {400}),
        ("a bad chunk size", f"POST {v1} HTTP/1.1\r\nHost: x\r\n{chunked}\r\nzz\r\n{{}}\r\n0\r\n\r\n".encode(), {400}),
        ("a chunk size that is not ASCII", f"POST {v1} HTTP/1.1\r\nHost: x\r\n{chunked}\r\n".encode() + b"\xd9\xa3\r\n{}\r\n0\r\n\r\n", {400}),
        ("a chunked body over the limit", f"POST {v1} HTTP/1.1\r\nHost: x\r\n{chunked}\r\n".encode() + big_chunks, {413}),
        ("gzip Content-Encoding", post(v1, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "Content-Encoding: gzip\r\n"), {415}),
        ("tritonclient's binary tensors", post(v2, '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"parameters":{"binary_data_size":32}}]}' + "\0" * 32,
                                              "Inference-Header-Content-Length: 93\r\n"), {400}),
        ("an unknown method", b"BREW /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {405}),
    ]
    for name, data, want in cases:
        answer = exchange(p, data)
        got = status_of(answer)
        if got not in want:
            fail(f"{name}: answered {got} (expected {sorted(want)}): {answer[:300]!r}")
        if name == "tritonclient's binary tensors" and b"binary" not in answer:
            fail(f"{name}: the 400 does not name binary tensors: {answer[:300]!r}")
        check_invariants(server, name)
        print(f"fuzz: hostile case ok: {name} -> {got}")

    # A head that never completes: 408 after the head timeout (10 s), logged with a duration >= 0.
    answer = exchange(p, b"POST /predict HTTP/1.1\r\nHost: x\r\n", wait=15.0)
    if status_of(answer) != 408:
        fail(f"an unfinished head: answered {answer[:200]!r} (expected 408)")
    check_invariants(server, "an unfinished head (408)")
    print("fuzz: hostile case ok: an unfinished head -> 408")

    # The protocol cases: puid echoed, tensor answered with a tensor, feedback counted and logged.
    answer = exchange(p, post(v1, json.dumps({"data": {"names": NAMES, "tensor": {"shape": [1, 4], "values": ROW}}, "meta": {"puid": "fuzz-puid-1"}})))
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    if status_of(answer) != 200 or body["meta"].get("puid") != "fuzz-puid-1" or "tensor" not in body["data"] and "ndarray" not in body["data"]:
        fail(f"a tensor request with a puid: {answer[:300]!r}")
    answer = exchange(p, post("/send-feedback", json.dumps({"response": {"meta": {"puid": "fuzz-puid-1"}}, "reward": 1, "truth": {"data": {"ndarray": [["setosa"]]}}})))
    if status_of(answer) != 200:
        fail(f"feedback: {answer[:300]!r}")
    time.sleep(1.5)  # workers publish their counts about once a second
    families = check_invariants(server, "feedback")
    if not (metric(families, "rmlops_feedback_total") or 0) >= 1:
        fail("feedback is not counted in rmlops_feedback_total")
    if not re.search(r'"msg":"feedback","puid":"fuzz-puid-1"', server.text()):
        fail("feedback is not logged with its puid")
    print("fuzz: protocol case ok: puid echoed, feedback counted and logged with its puid")


def burst(server, n=300):
    """n new connections at once, each sending a request only after all are open: every one is
    answered (200, or 503 when over capacity), none closed unanswered."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        socks.append(s)
    body = json.dumps({"data": {"names": NAMES, "ndarray": [ROW]}}).encode()
    for s in socks:
        s.sendall(post("/predict", body))
    counts = {}
    for s in socks:
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        s.close()
        code = status_of(out)
        counts[code] = counts.get(code, 0) + 1
    if set(counts) - {200, 503}:
        fail(f"a burst of {n} new connections: answers {counts} (None = closed without an answer)")
    check_invariants(server, "the burst")
    print(f"fuzz: burst of {n} new connections: {counts}")


def worker_deaths(server):
    for sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL):
        before = server.worker_pids()
        os.kill(before[0], sig)
        deadline = time.time() + 30
        while time.time() < deadline and set(server.worker_pids()) & {before[0]}:
            server.alive()
            time.sleep(0.2)
        # Answers on while the worker is replaced (the other one serves).
        for _ in range(20):
            answer = exchange(server.port, post("/predict", json.dumps({"data": {"names": NAMES, "ndarray": [ROW]}})))
            if status_of(answer) != 200:
                fail(f"after a worker's {sig.name}: answered {answer[:200]!r}")
        while time.time() < deadline and len(server.worker_pids()) < 2:
            time.sleep(0.2)
        if time.time() >= deadline:
            fail(f"after a worker's {sig.name}: no replacement in 30 s")
        time.sleep(1.5)
        families = check_invariants(server, f"a worker's {sig.name}")
        print(f"fuzz: worker death by {sig.name}: replaced, rmlops_worker_restarts_total {metric(families, 'rmlops_worker_restarts_total')}")
    if metric(families, "rmlops_worker_restarts_total") != 3:
        fail("three worker deaths are not counted as three restarts")


def schemathesis(server, args, spec, seconds):
    cmd = [args.schemathesis, "run", spec, "--url", f"http://127.0.0.1:{server.port}", "--checks", "not_a_server_error",
           "--max-time", str(seconds), "--workers", "1", "--request-timeout", "10", "--suppress-health-check", "all",
           "--phases", "examples,coverage,fuzzing", "--report", "ndjson", "--report-dir", args.work]
    t0 = time.time()
    # In the work directory: Schemathesis keeps a .schemathesis/ cache in its working directory.
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, cwd=args.work)
    took = time.time() - t0
    out = run.stdout + run.stderr
    calls = re.findall(r"(\d+) generated", out)
    print(out[-3000:])
    server.alive()
    if run.returncode != 0:
        fail(f"schemathesis on {os.path.basename(spec)} exited {run.returncode}")
    check_invariants(server, f"schemathesis on {os.path.basename(spec)}")
    requests = sum(1 for line in server.text().split("\n") if '"status":' in line)
    print(f"fuzz: schemathesis {os.path.basename(spec)}: passed in {took:.0f} s ({', '.join(calls) or '?'} generated); {requests} requests logged so far")


def main():
    ap = argparse.ArgumentParser()
    for a in ("root", "r-lib", "bundle", "work", "schemathesis"):
        ap.add_argument(f"--{a}", required=True)
    ap.add_argument("--seconds", type=int, default=60, help="Schemathesis time per OpenAPI file")
    args = ap.parse_args()
    t0 = time.time()
    server = Server(args)
    try:
        check_invariants(server, "start")
        hostile_cases(server)
        burst(server)
        worker_deaths(server)
        for spec in ("seldon-v1.yaml", "oip-v2.yaml"):
            schemathesis(server, args, os.path.join(args.root, "docs", "openapi", spec), args.seconds)
        check_invariants(server, "the end")
    finally:
        server.stop()
    print(f"fuzz: protocol: 0 crashes, 0 server errors for client mistakes, metrics and logs valid ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
