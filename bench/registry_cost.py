#!/usr/bin/env python3
"""registry_cost.py - CPU a Distribution registry spends per request, by kind (not part of the tests).

usage: bench/registry_cost.py [--count N] [--size BYTES]

Starts one throwaway registry with ../shared/bench/registry.sh (its own work dir), then sends N
requests of each kind over one keep-alive connection and reads the registry's CPU time
(utime + stime of /proc/PID/stat) around each batch. The client's own cost does not count, so
the figures hold for any client: they are the floor under any tool's copy on the same machine.
Prints one line per kind: `COST kind=… requests=N cpu_ms_per_request=…`.
"""
import argparse
import hashlib
import http.client
import json
import os
import pathlib
import subprocess
import sys
import tempfile

BENCH = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def call(self, method, path, body=None, headers=None, expect=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        response.read()
        if expect and response.status not in expect:
            sys.exit(f"registry_cost: {method} {path} -> {response.status}, expected {expect}")
        return response


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(client, repo, data, how):
    digest = digest_of(data)
    if how == "head":
        client.call("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(404,))
    query = f"?mount={digest}&from={repo}" if how == "mount-probe" else ""
    started = client.call("POST", f"/v2/{repo}/blobs/uploads/{query}", expect=(202,))
    location = started.getheader("Location")
    joiner = "&" if "?" in location else "?"
    octets = {"Content-Type": "application/octet-stream"}
    if how == "patch":
        patched = client.call(
            "PATCH", location, body=data,
            headers={**octets, "Content-Length": str(len(data)), "Content-Range": f"0-{len(data) - 1}"},
            expect=(202,))
        location = patched.getheader("Location")
        joiner = "&" if "?" in location else "?"
        client.call("PUT", f"{location}{joiner}digest={digest}", body=b"",
                    headers={**octets, "Content-Length": "0"}, expect=(201,))
    else:
        client.call("PUT", f"{location}{joiner}digest={digest}", body=data,
                    headers={**octets, "Content-Length": str(len(data))}, expect=(201,))
    return digest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=65536)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="acr-cost.")
    env = {**os.environ, "BENCH_WORK": work}
    port = int(subprocess.check_output([sys.executable, "-c",
        "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]))
    registry = [str(BENCH / "registry.sh")]
    subprocess.run(registry + ["start", "cost", str(port)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = int(pathlib.Path(work, "reg", "cost", "pid").read_text())
        client = Client(port)
        n = args.count

        def measure(kind, requests_each, action):
            before = cpu_seconds(pid)
            for i in range(n):
                action(i)
            spent = cpu_seconds(pid) - before
            print(f"COST kind={kind} requests={n * requests_each} "
                  f"cpu_ms_per_operation={spent * 1000 / n:.2f} "
                  f"cpu_ms_per_request={spent * 1000 / (n * requests_each):.2f}", flush=True)

        blobs = {}
        for how, requests_each in (("post-put", 2), ("mount-probe", 2), ("patch", 3), ("head", 3)):
            data = [os.urandom(args.size) for _ in range(n)]
            blobs[how] = []
            measure(f"upload-{how}", requests_each,
                    lambda i, how=how, data=data: blobs[how].append(upload(client, f"cost/{how}", data[i], how)))
        client.call("PUT", "/v2/cost/post-put/manifests/unused", body=b"{}", expect=None)
        measure("ping", 1, lambda i: client.call("GET", "/v2/", expect=(200,)))
        measure("head-missing-blob", 1,
                lambda i: client.call("HEAD", f"/v2/cost/post-put/blobs/sha256:{i:064x}", expect=(404,)))
        measure("blob-get", 1, lambda i: client.call(
            "GET", f"/v2/cost/post-put/blobs/{blobs['post-put'][i]}", expect=(200,)))
        measure("blob-head", 1, lambda i: client.call(
            "HEAD", f"/v2/cost/post-put/blobs/{blobs['post-put'][i]}", expect=(200,)))
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        config_digest = upload(client, "cost/post-put", config, "post-put")
        manifests = []
        for i in range(n):
            manifests.append(json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": blobs["post-put"][i], "size": args.size}],
            }).encode())
        oci = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        measure("manifest-put-tag", 1, lambda i: client.call(
            "PUT", f"/v2/cost/post-put/manifests/t{i}", body=manifests[i], headers=oci, expect=(201,)))
        measure("manifest-get-tag", 1, lambda i: client.call(
            "GET", f"/v2/cost/post-put/manifests/t{i}",
            headers={"Accept": oci["Content-Type"]}, expect=(200,)))
        measure("mount", 1, lambda i: client.call(
            "POST", f"/v2/cost/mounted/blobs/uploads/?mount={blobs['post-put'][i]}&from=cost/post-put",
            expect=(201,)))
    finally:
        subprocess.run(registry + ["stop-all"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
