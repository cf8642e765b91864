"""The HTTP layer: routes under `/api`, auth, knobs that fail requests, admin routes, the log.

`Handler` parses each request, records it in `World.requests` (API key value redacted, with
where the key's value was seen: only `header:x-api-key` is legitimate), routes it, and answers
JSON. Order for an API request: route match (404 `{"detail":"Not Found"}`, 405) -> auth (401
envelope) -> path UUIDs (422) -> `rate_limit` / `pods_per_minute` (429 + Retry-After) ->
`http_5xx` -> the World call. Rent is special: its answer can be replayed (Idempotency-Key),
dropped, delayed or turned into a 5xx after the pod is committed (`rent_lost_answer`).
`/_admin/*` routes need no key but answer only to loopback peers and are not logged.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from .world import ApiError, World, envelope, iso, not_found, validation_error, wall

MAX_BODY = 1 << 20
LOG_BODY_MAX = 64 * 1024
MAX_LOG = 50_000
REDACTED = "<redacted>"
KEY_MARK = "<api-key>"


class Route:
    def __init__(self, method: str, pattern: str, fn: str, public: bool = False):
        self.method = method
        self.pattern = pattern
        self.params = re.findall(r"{(\w+)}", pattern)
        self.regex = re.compile("^" + re.sub(r"{\w+}", r"([^/]+)", pattern) + "$")
        self.fn = fn
        self.public = public


ROUTES = [
    Route("GET", "/executors", "r_executors", public=True),
    Route("GET", "/executors/default-docker-image", "r_default_images"),
    Route("GET", "/executors/deployment-estimate", "r_estimate"),
    Route("POST", "/executors/{executor_id}/rent", "r_rent"),
    Route("GET", "/machines", "r_machines", public=True),
    Route("GET", "/templates", "r_templates", public=True),
    Route("GET", "/templates/{template_id}", "r_template", public=True),
    Route("GET", "/ssh-keys", "r_ssh_keys"),
    Route("POST", "/ssh-keys", "r_ssh_key_add"),
    Route("GET", "/pods", "r_pods"),
    Route("GET", "/pods/{pod_id}", "r_pod"),
    Route("DELETE", "/pods/{pod_id}", "r_pod_delete"),
    Route("GET", "/pods/{pod_id}/events", "r_pod_events"),
    Route("POST", "/pods/{pod_id}/schedule-removal", "r_schedule"),
    Route("DELETE", "/pods/{pod_id}/schedule-removal", "r_unschedule"),
    Route("POST", "/pods/{pod_id}/reboot", "r_reboot"),
    Route("GET", "/pods/{pod_id}/logs", "r_logs"),
    Route("GET", "/users/me", "r_me"),
    Route("GET", "/version", "r_version", public=True),
]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


class Reply:
    """What a route answers: status, JSON body (or text), extra headers, and a special action."""

    def __init__(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None, text: bool = False):
        self.status, self.body, self.headers, self.text = status, body, headers or {}, text


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, world: World, verbose: bool = False):
        super().__init__(addr, Handler)
        self.world = world
        self.verbose = verbose


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimServer

    def version_string(self) -> str:
        return "uvicorn"

    def log_message(self, fmt: str, *args) -> None:
        if self.server.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    # ---- plumbing ------------------------------------------------------------------------------

    @property
    def world(self) -> World:
        return self.server.world

    def _send(self, reply: Reply, request_id: str) -> None:
        if reply.text:
            data = str(reply.body).encode()
            ctype = "text/plain; charset=utf-8"
        else:
            body = reply.body
            if isinstance(body, dict) and isinstance(body.get("error"), dict) and "request_id" in body["error"]:
                body = dict(body, error=dict(body["error"], request_id=request_id))
            data = json.dumps(body).encode()
            ctype = "application/json"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Request-Id", request_id)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without any answer (a lost response)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> Tuple[Optional[bytes], Optional[Reply]]:
        length = self.headers.get("Content-Length")
        if not length:
            return None, None
        try:
            n = int(length)
        except ValueError:
            return None, Reply(400, {"detail": "Invalid Content-Length"})
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            return None, Reply(413, {"detail": f"Request body larger than {MAX_BODY} bytes"})
        return self.rfile.read(n), None

    # ---- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        request_id = uuid.uuid4().hex
        split = urlsplit(self.path)
        path, query_raw = split.path, split.query
        raw, early = self._read_body()
        if path.startswith("/_admin"):
            self._send(early or self._admin(method, path, query_raw, raw), request_id)
            return
        entry = self._log_entry(method, path, query_raw, raw, request_id)
        reply = early
        try:
            if reply is None:
                reply = self._api(method, path, query_raw, raw, entry)
        except ApiError as err:
            reply = Reply(err.status, err.body, err.headers)
        except Exception as exc:  # a bug in the simulator: answer 500 and say so in the log
            reply = Reply(500, {"detail": f"lium-sim internal error: {type(exc).__name__}: {exc}"})
            entry["sim_error"] = repr(exc)
        if reply is None:  # the connection was dropped on purpose
            entry["status"] = "dropped"
            return
        entry["status"] = reply.status
        entry["elapsed_ms"] = round((time.monotonic() - entry["_t0"]) * 1000, 1)
        if reply.headers.get("Idempotent-Replayed"):
            entry["replayed"] = True
        self._send(reply, request_id)

    def _log_entry(self, method: str, path: str, query: str, raw: Optional[bytes], request_id: str) -> Dict[str, Any]:
        key = self.world.cfg.api_key
        locations: List[str] = []
        headers: Dict[str, str] = {}
        sent_key = None
        for name, value in self.headers.items():
            lname = name.lower()
            if lname == "x-api-key":
                sent_key = value
                headers[name] = REDACTED
                if key in value:
                    locations.append("header:x-api-key")
                continue
            if key in value:
                locations.append(f"header:{lname}")
                value = value.replace(key, KEY_MARK)
            headers[name] = value
        if key in unquote(path) or key in path:
            locations.append("path")
        if key in unquote(query) or key in query:
            locations.append("query")
        body_text = raw.decode("utf-8", "replace") if raw else None
        if body_text and key in body_text:
            locations.append("body")
        if body_text is not None:
            body_text = body_text.replace(key, KEY_MARK)
        try:
            body = json.loads(body_text) if body_text else None
        except ValueError:
            body = body_text[:LOG_BODY_MAX]
        if isinstance(body, str):
            body = body[:LOG_BODY_MAX]
        auth = "absent" if sent_key is None else ("match" if sent_key == key else "mismatch")
        with self.world.lock:
            self.world.request_seq += 1
            if len(self.world.requests) >= MAX_LOG:
                del self.world.requests[: MAX_LOG // 10]  # bounded memory: the oldest tenth goes
            entry = {
                "seq": self.world.request_seq, "at": iso(wall()),
                "t": round(time.monotonic() - self.world.started, 3), "method": method,
                "path": path.replace(key, KEY_MARK), "query": query.replace(key, KEY_MARK), "headers": headers,
                "auth": auth, "key_locations": locations, "body": body, "status": None, "injected": [],
                "replayed": False, "request_id": request_id, "peer": self.client_address[0],
                "_t0": time.monotonic(),
            }
            self.world.requests.append(entry)
        return entry

    def _api(self, method: str, path: str, query_raw: str, raw: Optional[bytes], entry) -> Optional[Reply]:
        if not path.startswith("/api/"):
            raise not_found()
        sub = path[len("/api"):]
        matched = [(r, r.regex.match(sub)) for r in ROUTES]
        matched = [(r, m) for r, m in matched if m]
        if not matched:
            raise not_found()
        route_match = next(((r, m) for r, m in matched if r.method == method), None)
        if route_match is None:
            raise ApiError(405, {"detail": "Method Not Allowed"},
                           {"Allow": ", ".join(sorted({r.method for r, _ in matched}))})
        route, m = route_match
        if not route.public and entry["auth"] != "match":
            raise ApiError(401, envelope(401, "invalid_api_key", "Invalid or expired token",
                                         hint="Check the API key (X-API-KEY header)"))
        params = dict(zip(route.params, (unquote(g) for g in m.groups())))
        for name, value in params.items():
            if not _is_uuid(value):
                raise validation_error(["path", name], "Input should be a valid UUID", "uuid_parsing", value)
        query = dict(parse_qsl(query_raw, keep_blank_values=True))
        executor_id = params.get("executor_id")
        pod_id = params.get("pod_id")
        if pod_id is not None:
            with self.world.lock:
                pod = self.world.pods.get(pod_id)
                executor_id = pod.executor["id"] if pod else None
        self._request_knobs(method, path, route, executor_id, pod_id, entry)
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise validation_error(["body", 0], "JSON decode error", "json_invalid", raw[:200].decode("utf-8", "replace"))
        return getattr(self, route.fn)(params=params, query=query, body=body, entry=entry)

    def _request_knobs(self, method, path, route: Route, executor_id, pod_id, entry) -> None:
        world = self.world
        limit = world.book.take("rate_limit", executor_id=executor_id, pod_id=pod_id, method=method, path=path)
        if limit:
            entry["injected"].append("rate_limit")
            raise ApiError(429, {"detail": "Too Many Requests"}, {"Retry-After": f"{limit['retry_after']:g}"})
        if route.fn == "r_pods" and world.cfg.pods_per_minute:
            with world.lock:
                now = time.monotonic()
                world.pods_polls = [t for t in world.pods_polls if now - t < 60.0]
                if len(world.pods_polls) >= world.cfg.pods_per_minute:
                    wait = max(1, math.ceil(60.0 - (now - world.pods_polls[0])))
                    entry["injected"].append("pods_per_minute")
                    raise ApiError(429, {"detail": f"Rate limit: {world.cfg.pods_per_minute} GET /pods per minute"},
                                   {"Retry-After": str(wait)})
                world.pods_polls.append(now)
        fail = world.book.take("http_5xx", executor_id=executor_id, pod_id=pod_id, method=method, path=path)
        if fail:
            entry["injected"].append("http_5xx")
            text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(fail["status"], "Server Error")
            raise ApiError(fail["status"], {"detail": text})

    # ---- API routes ----------------------------------------------------------------------------

    def r_executors(self, query, **_):
        return Reply(200, self.world.list_executors(query))

    def r_default_images(self, **_):
        return Reply(200, self.world.default_images())

    def r_estimate(self, query, **_):
        return Reply(200, self.world.deployment_estimate(query))

    def r_machines(self, **_):
        return Reply(200, self.world.machines())

    def r_templates(self, **_):
        return Reply(200, list(self.world.templates.values()))

    def r_template(self, params, **_):
        return Reply(200, self.world.template(params["template_id"]))

    def r_ssh_keys(self, **_):
        return Reply(200, self.world.list_ssh_keys())

    def r_ssh_key_add(self, body, **_):
        return Reply(200, self.world.add_ssh_key(body))

    def r_pods(self, **_):
        return Reply(200, self.world.list_pods())

    def r_pod(self, params, **_):
        return Reply(200, self.world.get_pod(params["pod_id"]))

    def r_pod_delete(self, params, body, **_):
        return Reply(200, self.world.delete_pod(params["pod_id"], body))

    def r_pod_events(self, params, **_):
        return Reply(200, self.world.pod_events(params["pod_id"]))

    def r_schedule(self, params, body, entry, **_):
        try:
            return Reply(200, self.world.schedule_removal(params["pod_id"], body))
        except ApiError as err:
            if err.status >= 500:
                entry["injected"].append("schedule_fail")
            raise

    def r_unschedule(self, params, entry, **_):
        try:
            return Reply(200, self.world.cancel_removal(params["pod_id"]))
        except ApiError as err:
            if err.status >= 500:
                entry["injected"].append("schedule_fail")
            raise

    def r_reboot(self, params, **_):
        return Reply(200, self.world.reboot(params["pod_id"]))

    def r_logs(self, params, **_):
        return Reply(200, self.world.logs(params["pod_id"]), text=True)

    def r_me(self, **_):
        return Reply(200, self.world.me())

    def r_version(self, **_):
        return Reply(200, self.world.version())

    def r_rent(self, params, body, entry, **_):
        key = self.headers.get("Idempotency-Key")
        entry["idempotency_key"] = key
        out = self.world.rent_begin(params["executor_id"], body, key)
        if "replay" in out:
            status, stored = out["replay"]
            return Reply(status, stored, {"Idempotent-Replayed": "true"})
        entry["pod_id"] = out["pod"]
        lost = out["lost"]
        if not lost:
            self.world.rent_finish(key, out["status"], out["body"])
            return Reply(out["status"], out["body"])
        entry["injected"].append(f"rent_lost_answer:{lost['mode']}")
        if lost["mode"] == "drop":
            self.world.rent_finish(key, out["status"], out["body"])
            self._drop()
            return None
        if lost["mode"] == "sleep":
            time.sleep(lost["sleep_s"])  # the key stays in flight meanwhile: a replay gets 409
            self.world.rent_finish(key, out["status"], out["body"])
            return Reply(out["status"], out["body"])
        self.world.rent_finish(key, out["status"], out["body"])
        return Reply(lost["status"], {"detail": "Bad Gateway"})

    # ---- admin ---------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, query_raw: str, raw: Optional[bytes]) -> Reply:
        peer = self.client_address[0]
        if not (peer.startswith("127.") or peer == "::1"):
            return Reply(403, {"detail": "admin routes answer on loopback only"})
        world = self.world
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return Reply(400, {"detail": "admin body must be JSON"})
        query = dict(parse_qsl(query_raw))
        try:
            if path == "/_admin/pods" and method == "GET":
                return Reply(200, world.pods_view())
            if path == "/_admin/requests" and method == "GET":
                since = int(query.get("since", "0"))
                with world.lock:
                    rows = [{k: v for k, v in e.items() if not k.startswith("_")} for e in world.requests
                            if e["seq"] > since]
                return Reply(200, rows)
            if path == "/_admin/requests" and method == "DELETE":
                with world.lock:
                    n = len(world.requests)
                    world.requests.clear()
                return Reply(200, {"cleared": n})
            if path == "/_admin/inject" and method == "POST":
                return Reply(200, world.inject(body))
            if path == "/_admin/injections" and method == "GET":
                return Reply(200, [i.view() for i in world.book.injections])
            if path == "/_admin/injections" and method == "DELETE":
                return Reply(200, {"cleared": world.book.clear()})
            if path == "/_admin/state" and method == "GET":
                return Reply(200, world.state_view())
            if path == "/_admin/balance" and method == "POST":
                value = (body or {}).get("balance")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    return Reply(400, {"detail": "body must be {\"balance\": <number>}"})
                with world.lock:
                    world.balance_adjust += float(value) - world.balance()
                    return Reply(200, {"balance": world.balance()})
            if path == "/_admin/shutdown" and method == "POST":
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return Reply(200, {"stopping": True})
        except ApiError as err:
            return Reply(err.status, err.body, err.headers)
        except ValueError as exc:
            return Reply(400, {"detail": str(exc)})
        return Reply(404, {"detail": f"no admin route {method} {path}"})
