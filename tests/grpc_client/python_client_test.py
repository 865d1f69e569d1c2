#!/usr/bin/python3
"""A Python client generated from server/proto/imprint/v1/imprint.proto, against `imprint serve`.

Generates the stubs with Debian's python3-grpc-tools (`python3 -m grpc_tools.protoc`, whose
bundled protoc is 3.5: no proto3 `optional`), starts `imprint serve` with API keys on ports of the
kernel's choosing, and drives it as an integrator would: standard health checking, RegisterWork,
MatchImage and MatchHash (a licensee named in another case is the same licensee), a video
registered from its bytes, MatchVideo and RemoveWork, MatchStream,
the authentication and role errors, the request id, and server reflection v1 and v1alpha; then
the HTTP routes (POST, GET and DELETE /api/v1/works, GET /api/v1/works and /api/v1/usage pages,
POST /api/v1/match?format=proto) with bodies printed and answers parsed by the generated messages'
json_format, strictly, each compared with what the gRPC call answers.
Health and reflection are called with their messages written as bytes here, so the test needs no
proto but imprint's. Uses only Debian packages: python3-grpc-tools and python3-grpcio (a missing
one fails the test, it is never skipped).
"""
import argparse
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

import grpc


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok: " + message)


def png_bytes(width, height, seed):
    """A photo-like RGB picture (overlapping waves and blocks) as PNG, made without any imaging
    library: PDQ needs structure at several scales to give a strong hash."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            v = (128 + 60 * math.sin((x + seed) / 11.0) * math.cos((y - seed) / 17.0)
                 + 40 * math.sin((x * y + seed * 7) / 900.0)
                 + (50 if ((x // 32) + (y // 24) + seed) % 3 == 0 else -30))
            v = max(0, min(255, int(v)))
            row += bytes((v, (v * 3 + x) % 256 if x % 64 < 32 else v // 2, 255 - v))
        rows.append(bytes(row))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def grpc_port(log_path, serve):
    """The port `imprint serve --listen 127.0.0.1:0` bound, from its banner."""
    end = time.time() + 60
    while time.time() < end:
        if serve.poll() is not None:
            fail("imprint serve exited: " + read_text(log_path))
        m = re.search(r"gRPC on 127\.0\.0\.1:(\d+)", read_text(log_path))
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    fail("imprint serve printed no banner: " + read_text(log_path))


def http_port(log_path):
    """The port `--http 127.0.0.1:0` bound, from the same banner (printed once both are up)."""
    m = re.search(r"HTTP on 127\.0\.0\.1:(\d+)", read_text(log_path))
    if not m:
        fail("imprint serve's banner names no HTTP port: " + read_text(log_path))
    return int(m.group(1))


def http(port, method, path, key, body=None):
    """(status, body text) of one HTTP call with a bearer key; errors are answers too."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method)
    req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def string_field(number, text):
    """A protobuf string field as bytes (wire type 2), for the health and reflection requests."""
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imprint", required=True, help="the imprint binary")
    ap.add_argument("--proto-dir", required=True, help="server/proto")
    ap.add_argument("--shared-dir", required=True, help="../shared (the reference videos; IMPRINT_SHARED_DIR wins, as for the C++ suites)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="imprint-pyclient-") as work:
        # 1. The stubs, from the proto as it is, with Debian's grpc tools.
        gen = os.path.join(work, "gen")
        os.mkdir(gen)
        proto = os.path.join(args.proto_dir, "imprint", "v1", "imprint.proto")
        made = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + args.proto_dir,
                               "--python_out=" + gen, "--grpc_python_out=" + gen, proto],
                              capture_output=True, text=True)
        check(made.returncode == 0, "grpc_tools.protoc compiles imprint.proto " + made.stderr.strip())
        # protoc writes no __init__.py; without them `imprint` would be a namespace package, which
        # loses to any module named imprint on the path (the `import imprint` extension module
        # scripts/build.sh installs). Regular packages first on the path win.
        for package in ("imprint", os.path.join("imprint", "v1")):
            open(os.path.join(gen, package, "__init__.py"), "w").close()
        sys.path.insert(0, gen)
        from imprint.v1 import imprint_pb2 as pb
        from imprint.v1 import imprint_pb2_grpc as pb_grpc
        from google.protobuf import json_format

        # 2. Keys and a server.
        keys_file = os.path.join(work, "keys.txt")

        def new_key(name, role, *owners):
            cmd = [args.imprint, "keys", "add", "--keys", keys_file, "--name", name, "--role", role]
            for o in owners:
                cmd += ["--owner", o]
            return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

        admin = new_key("boss", "admin")
        registrar = new_key("gallery", "registrar", "Ana")
        matcher = new_key("platform", "matcher")
        catalog = os.path.join(work, "cat")
        log_path = os.path.join(work, "serve.log")
        with open(log_path, "w") as log:
            serve = subprocess.Popen([args.imprint, "serve", "--catalog", catalog, "--listen",
                                      "127.0.0.1:0", "--http", "127.0.0.1:0", "--keys", keys_file],
                                     stdout=log, stderr=log)
        try:
            port = grpc_port(log_path, serve)
            channel = grpc.insecure_channel("127.0.0.1:%d" % port)
            catalog_stub = pb_grpc.CatalogServiceStub(channel)
            match_stub = pb_grpc.MatchServiceStub(channel)

            def auth(key, request_id=None):
                md = [("authorization", "Bearer " + key)]
                if request_id:
                    md.append(("x-request-id", request_id))
                return md

            # 3. Standard health checking, both services: SERVING (field 1 = 1).
            health = channel.unary_unary("/grpc.health.v1.Health/Check")
            for service in ("imprint.v1.MatchService", "imprint.v1.CatalogService"):
                answer = health(string_field(1, service), timeout=20)
                check(answer == b"\x08\x01", "health of %s is SERVING (%r)" % (service, answer))

            # 4. Register a work whose commercial use is licensed to Acme, from its image.
            art = png_bytes(320, 240, 5)
            reg = pb.RegisterWorkRequest(
                work=pb.Work(work_id="sunset-01", title="Sunset", owner="Ana",
                             licence=pb.LicencePolicy(commercial=pb.PurposeTerms(
                                 permission=pb.LICENSED, licensees=["Acme"]))),
                image=art)
            registered = catalog_stub.RegisterWork(reg, metadata=auth(registrar), timeout=30)
            check(registered.work.work_id == "sunset-01" and len(registered.pdq.hash) == 64,
                  "RegisterWork returns the work and its PDQ hash")
            again = catalog_stub.RegisterWork(reg, metadata=auth(registrar), timeout=30)
            check(again.work.registered_at == registered.work.registered_at,
                  "RegisterWork retried answers with the stored work")

            # 4b. RegisterWorks: a stream of works, each answered in order.
            def batch():
                for i in range(3):
                    yield pb.RegisterWorkRequest(
                        work=pb.Work(work_id="batch-%d" % i, owner="Ana"),
                        fingerprints=pb.PrecomputedFingerprints(
                            pdq=[pb.PdqFingerprint(hash="%064x" % (0x1234567 * (i + 3)))]))
                yield pb.RegisterWorkRequest(work=pb.Work(work_id="", owner="Ana"), image=art)
            answers = list(catalog_stub.RegisterWorks(batch(), metadata=auth(registrar), timeout=30))
            check([a.index for a in answers] == [0, 1, 2, 3] and
                  all(a.HasField("result") for a in answers[:3]) and
                  answers[3].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0],
                  "RegisterWorks answers each work in order (%r)" % [a.error_message for a in answers])
            # ListWorks two at a time through the page tokens: every work once.
            listed, token = [], ""
            for _ in range(10):
                page = list(catalog_stub.ListWorks(pb.ListWorksRequest(limit=2, page_token=token),
                                                   metadata=auth(registrar), timeout=30))
                if not page:
                    break
                listed += [w.work_id for w in page]
                token = page[-1].page_token
            check(listed == ["sunset-01", "batch-0", "batch-1", "batch-2"],
                  "ListWorks pages through its page tokens (%r)" % listed)
            # 4c. A video work from its vPDQ frame hashes (frame, quality, hash, seconds).
            frames = [pb.VideoFrameHash(frame=30 * i, quality=90, seconds=float(i),
                                        hash="%064x" % (0xabcdef12345 * (i + 7)))
                      for i in range(5)]
            video = catalog_stub.RegisterWork(
                pb.RegisterWorkRequest(work=pb.Work(work_id="clip-01", owner="Ana"),
                                       video_frames=pb.VideoFrameHashes(frames=frames)),
                metadata=auth(registrar), timeout=30)
            check(video.work.media == "video" and video.frames == 5 and not video.HasField("pdq"),
                  "RegisterWork takes a video work's frame hashes (%r)" % video)

            # 4d. A video work from its file's bytes, and MatchVideo with another cut of it: the
            # copied seconds come back as segments.
            shared = os.environ.get("IMPRINT_SHARED_DIR") or args.shared_dir
            videos = os.path.join(shared, "vpdq-reference", "videos")
            with open(os.path.join(videos, "chair-orig-22-sd-bar.mp4"), "rb") as f:
                chair = f.read()
            with open(os.path.join(videos, "chair-19-sd-bar.mp4"), "rb") as f:
                chair_copy = f.read()
            made = catalog_stub.RegisterWork(
                pb.RegisterWorkRequest(work=pb.Work(work_id="chair", owner="Ana"), video=chair),
                metadata=auth(registrar), timeout=60)
            check(made.work.media == "video" and made.frames > 0,
                  "RegisterWork hashes a video from its bytes (%d frames)" % made.frames)
            mv = match_stub.MatchVideo(
                pb.MatchVideoRequest(video=chair_copy, context=pb.MatchContext(purpose=pb.AI_TRAINING)),
                metadata=auth(matcher), timeout=60)
            check(mv.decision == "flag" and mv.matches[0].match.work_id == "chair" and
                  mv.matches[0].query_match_pct > 0 and len(mv.matches[0].segments) > 0,
                  "MatchVideo flags the copied video with its segments (%s, %.1f%%)"
                  % (mv.decision, mv.matches[0].query_match_pct if mv.matches else 0))
            catalog_stub.RemoveWork(pb.RemoveWorkRequest(work_id="chair"), metadata=auth(registrar),
                                    timeout=30)
            mv = match_stub.MatchVideo(
                pb.MatchVideoRequest(video=chair_copy, context=pb.MatchContext(purpose=pb.AI_TRAINING)),
                metadata=auth(matcher), timeout=60)
            check(not any(m.match.work_id == "chair" for m in mv.matches),
                  "RemoveWork takes it out of matching")

            # 5. MatchImage: the licensee in another case and with spaces is Acme; others are not.
            for licensee, decision in (("acme", "allow"), ("  ACME ", "allow"), ("Mallory", "flag")):
                ctx = pb.MatchContext(purpose=pb.COMMERCIAL, licensee=licensee, reference="post-1")
                r = match_stub.MatchImage(pb.MatchImageRequest(image=art, context=ctx),
                                          metadata=auth(matcher), timeout=30)
                check(r.decision == decision and r.matches[0].work_id == "sunset-01",
                      "MatchImage for licensee %r decides %s (got %s)" % (licensee, decision, r.decision))

            # 6. MatchHash with a hash, min_score set through its oneof (0: nearest works).
            ctx = pb.MatchContext(purpose=pb.AI_TRAINING, min_score=0.0)
            check(ctx.HasField("min_score") and ctx.WhichOneof("min_score_set") == "min_score",
                  "min_score set to 0 is present")
            check(not pb.MatchContext().HasField("min_score"), "min_score unset is absent")
            r, call = match_stub.MatchHash.with_call(
                pb.MatchHashRequest(pdq=registered.pdq.hash, context=ctx),
                metadata=auth(matcher, "py-hash-1"), timeout=30)
            check(r.decision == "flag" and r.matches[0].work_id == "sunset-01",
                  "MatchHash flags the work for AI training")
            initial = dict(call.initial_metadata())
            check(initial.get("x-request-id") == "py-hash-1",
                  "x-request-id is echoed in initial metadata (%r)" % initial.get("x-request-id"))
            r, call = match_stub.MatchHash.with_call(
                pb.MatchHashRequest(pdq=registered.pdq.hash), metadata=auth(matcher), timeout=30)
            made_id = dict(call.initial_metadata()).get("x-request-id", "")
            check(re.fullmatch(r"[0-9a-f]{32}", made_id) is not None,
                  "a request id is made when none is sent (%r)" % made_id)

            # 7. MatchStream: answers in order, an error per message without ending the stream.
            def queries():
                yield pb.MatchStreamRequest(id="a", hash=pb.PdqFingerprint(hash=registered.pdq.hash))
                yield pb.MatchStreamRequest(id="b", hash=pb.PdqFingerprint(hash="zz"))
                yield pb.MatchStreamRequest(id="c", image=art)
            answers = list(match_stub.MatchStream(queries(), metadata=auth(matcher), timeout=30))
            check([a.id for a in answers] == ["a", "b", "c"], "MatchStream answers in order")
            check(answers[0].result.decision == "flag" and
                  answers[1].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and
                  answers[2].result.matches[0].work_id == "sunset-01",
                  "MatchStream reports the bad hash's error and goes on")

            # 8. Authentication and role errors, with their codes and the role needed.
            req = pb.MatchHashRequest(pdq=registered.pdq.hash)
            for metadata, code, words in (
                    ([], grpc.StatusCode.UNAUTHENTICATED, "authorization"),
                    (auth("imp_not_a_key"), grpc.StatusCode.UNAUTHENTICATED, "unknown API key"),
                    (auth(registrar), grpc.StatusCode.PERMISSION_DENIED,
                     "key 'gallery' has role registrar; MatchHash needs matcher")):
                try:
                    match_stub.MatchHash(req, metadata=metadata, timeout=30)
                    fail("MatchHash with %r succeeded" % (metadata,))
                except grpc.RpcError as e:
                    check(e.code() == code and words in e.details(),
                          "MatchHash refused %s: %s" % (code.name, e.details()))
            try:
                list(catalog_stub.ListUsage(pb.ListUsageRequest(), metadata=auth(matcher), timeout=30))
                fail("ListUsage with a matcher key succeeded")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.PERMISSION_DENIED and "needs admin" in e.details(),
                      "ListUsage needs admin: " + e.details())
            events = list(catalog_stub.ListUsage(pb.ListUsageRequest(), metadata=auth(admin), timeout=30))
            check(len(events) >= 4 and all(e.caller == "platform" for e in events),
                  "usage events name the matcher key (%d)" % len(events))

            # 9. Server reflection, v1 (asked first by current clients) and v1alpha: list_services
            # (field 7) and file_containing_symbol (field 4), as bytes.
            for version in ("v1", "v1alpha"):
                info = channel.stream_stream(
                    "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version)
                answers = list(info(iter([string_field(7, ""),
                                          string_field(4, "imprint.v1.MatchService")]), timeout=30))
                check(len(answers) == 2, "reflection %s answers each request" % version)
                for name in (b"imprint.v1.MatchService", b"imprint.v1.CatalogService",
                             b"grpc.reflection.v1.ServerReflection", b"grpc.health.v1.Health"):
                    check(name in answers[0], "reflection %s lists %s" % (version, name.decode()))
                check(b"imprint/v1/imprint.proto" in answers[1] and b"MatchHashRequest" in answers[1],
                      "reflection %s gives the file that defines MatchService" % version)

            # 10. The catalog and match calls over HTTP, in the proto's JSON mapping as the
            # generated messages print and parse it (json_format, strict: a field the message does
            # not have fails the parse), answering what the gRPC calls answer.
            hport = http_port(log_path)
            dawn = pb.RegisterWorkRequest(work=pb.Work(work_id="dawn-02", title="Dawn", owner="Ana"),
                                          image=png_bytes(320, 240, 9))
            status, text = http(hport, "POST", "/api/v1/works", registrar,
                                json_format.MessageToJson(dawn).encode())
            check(status == 200, "POST /api/v1/works registers from a RegisterWorkRequest (%d %s)"
                  % (status, text[:200]))
            answer = json_format.Parse(text, pb.RegisterWorkResponse())
            check(answer.work.work_id == "dawn-02" and len(answer.pdq.hash) == 64,
                  "its answer parses as a RegisterWorkResponse")
            status, text = http(hport, "GET", "/api/v1/works/dawn-02", registrar)
            by_grpc = catalog_stub.GetWork(pb.GetWorkRequest(work_id="dawn-02"),
                                           metadata=auth(registrar), timeout=30)
            check(status == 200 and json_format.Parse(text, pb.Work()) == by_grpc,
                  "GET /api/v1/works/{id} is the Work GetWork gives")
            listed, token = [], ""
            for _ in range(10):
                status, text = http(hport, "GET", "/api/v1/works?limit=2&page_token=" +
                                    urllib.parse.quote(token), registrar)
                check(status == 200, "GET /api/v1/works pages (%d)" % status)
                page = json.loads(text)
                listed += [json_format.ParseDict(w, pb.Work()).work_id for w in page["works"]]
                token = page["nextPageToken"]
                if not token:
                    break
            check(listed == ["sunset-01", "batch-0", "batch-1", "batch-2", "clip-01", "dawn-02"],
                  "GET /api/v1/works lists every work once through nextPageToken (%r)" % listed)
            status, text = http(hport, "POST", "/api/v1/match?purpose=commercial&licensee=Mallory"
                                "&format=proto", matcher, png_bytes(320, 240, 9))
            matched = json_format.Parse(text, pb.MatchResponse()) if status == 200 else None
            check(matched is not None and matched.decision == "flag" and
                  matched.matches[0].work_id == "dawn-02",
                  "POST /api/v1/match?format=proto parses as a MatchResponse (%d %s)"
                  % (status, text[:200]))
            by_grpc = match_stub.MatchImage(
                pb.MatchImageRequest(image=png_bytes(320, 240, 9), context=pb.MatchContext(
                    purpose=pb.COMMERCIAL, licensee="Mallory")), metadata=auth(matcher), timeout=30)
            check([(m.work_id, m.decision, m.score) for m in matched.matches] ==
                  [(m.work_id, m.decision, m.score) for m in by_grpc.matches],
                  "and its matches are MatchImage's")
            status, text = http(hport, "GET", "/api/v1/usage?newest_first=true&limit=1", admin)
            events = [json_format.ParseDict(e, pb.UsageEvent()) for e in json.loads(text)["events"]]
            check(status == 200 and len(events) == 1 and events[0].caller == "platform",
                  "GET /api/v1/usage gives UsageEvents, newest first")
            # Refusals: a field RegisterWorkRequest does not have, a role that may not register.
            status, text = http(hport, "POST", "/api/v1/works", registrar,
                                b'{"work": {"workId": "x", "owner": "Ana"}, "replaceAll": true}')
            check(status == 400 and "RegisterWorkRequest" in json.loads(text)["message"],
                  "an unknown field is refused, naming the message (%d %s)" % (status, text))
            status, text = http(hport, "POST", "/api/v1/works", matcher,
                                json_format.MessageToJson(dawn).encode())
            check(status == 403 and "needs registrar" in json.loads(text)["message"],
                  "a matcher key may not register over HTTP either (%d %s)" % (status, text))
            status, _ = http(hport, "DELETE", "/api/v1/works/dawn-02", registrar)
            check(status == 200, "DELETE /api/v1/works/{id} removes the work")
            try:
                catalog_stub.GetWork(pb.GetWorkRequest(work_id="dawn-02"),
                                     metadata=auth(registrar), timeout=30)
                fail("GetWork found a work removed over HTTP")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.NOT_FOUND, "and gRPC's GetWork no longer finds it")
            channel.close()
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
                fail("imprint serve did not stop on SIGTERM")
        log = read_text(log_path)
        check('"request_id":"py-hash-1"' in log, "the access log names the request id")
    print("PASS")


if __name__ == "__main__":
    main()
