# ruff: noqa - a measurement script, kept beside its output
"""Connections, requests and CPU of the embedded emulator's server under `paysys bench`:
werkzeug's own handler (every reply `Connection: close`) against paysys.local.keepalive's,
alternated, each a fresh server process serving the bench through `--backend endpoint`.

    PYTHONPATH=src:tools python benchmarks/emulator/conns.py --pairs 2 -- --rate 10 --duration 15

Per run: TCP connections the server accepted and requests it served over the whole bench
(provisioning, warm-up, the measured window, the settle), the server process's CPU over the
whole bench (/proc), and the bench's own figures for the measured window.
"""

import argparse, io, json, os, signal, subprocess, sys, threading, time, urllib.request
from urllib.parse import parse_qs

from paysys.local.procs import free_port


def serve(kind: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server
    from paysys.local.keepalive import KeepAliveHandler
    from paysys.local.moto_atomic import moto_app

    base = KeepAliveHandler if kind == "keepalive" else MotoRequestHandler
    counts = {"connections": 0, "requests": 0}
    by_op: dict = {}  # operation -> [calls, thread CPU seconds inside the application]
    lock = threading.Lock()
    app = moto_app()

    def timed(environ, start_response):
        op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not op:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            op = parse_qs(body.decode(errors="replace")).get("Action", [environ.get("PATH_INFO", "")])[0]
        if os.environ.get("CONNS_SAMPLES") and op in ("UpdateItem", "PutItem", "BatchGetItem", "CreateTable"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            with open(os.environ["CONNS_SAMPLES"], "a") as out:
                out.write(json.dumps({"op": op, "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")}, "body": body.decode()}) + "\n")
        start = time.thread_time()
        result = list(app(environ, start_response))
        used = time.thread_time() - start
        with lock:
            entry = by_op.setdefault(op, [0, 0.0])
            entry[0] += 1
            entry[1] += used
        return result

    class Counting(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            with lock:
                counts["connections"] += 1
            super().setup()

        def run_wsgi(self) -> None:
            with lock:
                counts["requests"] += 1
            super().run_wsgi()

        def log_request(self, *a, **k) -> None:  # both quiet: the count is the record
            pass

    server = make_server("127.0.0.1", port, timed, threaded=True, request_handler=Counting)

    def done(*_):
        counts["by_op"] = {op: [n, round(1000 * cpu / n, 3)] for op, (n, cpu) in sorted(by_op.items())}
        print(json.dumps(counts), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    server.serve_forever()


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(kind: str, bench_args: list[str], tree: str | None = None) -> dict:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    load = os.getloadavg()[0]
    before = cpu_s(child.pid)
    env = dict(os.environ)
    if tree:  # that revision's bench and roles, against this server
        env["PYTHONPATH"] = f"{tree}/src:{tree}/tools"
    bench = subprocess.run(
        [sys.executable, "-m", "paysys", "bench", "--backend", "endpoint", "--endpoint", url, *bench_args, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    cpu = cpu_s(child.pid) - before
    child.send_signal(signal.SIGTERM)
    counts = json.loads(child.communicate(timeout=30)[0].strip().splitlines()[-1])
    result = json.loads(bench.stdout.strip().splitlines()[-1])
    payments = result.get("steady_payments") or result.get("payments")
    return {
        "server": kind,
        "bench_tree": tree,
        "payments": payments,
        "connections": counts["connections"],
        "requests": counts["requests"],
        "app_calls_and_cpu_ms_per_call_by_op": counts["by_op"],
        "connections_per_request": round(counts["connections"] / max(counts["requests"], 1), 3),
        "emulator_cpu_s_whole_run": round(cpu, 2),
        "emulator_cpu_ms_per_request": round(1000 * cpu / max(counts["requests"], 1), 3),
        "api_cpu_ms_per_1k": result.get("api_cpu_ms_per_1k"),
        "worker_cpu_ms_per_1k": result.get("worker_cpu_ms_per_1k"),
        "api_posts_per_s": result.get("api_posts_per_s"),
        "worker_approvals_per_s": result.get("worker_approvals_per_s"),
        "steady_rate": result.get("steady_rate"),
        "steady_e2e_p99_ms": result.get("steady_e2e_p99_ms"),
        "steady_api_cpu_ms_per_payment": result.get("steady_api_cpu_ms_per_payment"),
        "steady_worker_cpu_ms_per_payment": result.get("steady_worker_cpu_ms_per_payment"),
        "steady_calls_per_payment": result.get("steady_calls_per_payment"),
        "lost": result.get("lost"),
        "double_final": result.get("double_final"),
        "loadavg_1m_start": round(load, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=("werkzeug", "keepalive"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument(
        "--tree", action="append", default=[],
        help="instead of the two servers: one keep-alive server per run, the bench of each of these worktrees in turn",
    )
    parser.add_argument("bench_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    bench_args = [a for a in args.bench_args if a != "--"]
    for _ in range(args.pairs):
        if args.tree:
            for tree in args.tree:
                print(json.dumps(run("keepalive", bench_args, tree)), flush=True)
            continue
        for kind in ("werkzeug", "keepalive"):
            print(json.dumps(run(kind, bench_args)), flush=True)


if __name__ == "__main__":
    main()
